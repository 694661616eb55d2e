// node:http as CommonJS exports. An ESM `import … from 'node:http'` builds a
// module namespace from every export, and reading them loads the lazy ones:
// Node's bundled undici, web streams and http2, about 13 MiB of resident
// memory and 2 MiB of heap that nothing here uses. process.getBuiltinModule
// hands over the same module without touching them.
export const http = process.getBuiltinModule('node:http');
