// Why a target was missed and what would close it, from profiling and from
// variants measured on the same full-scale cluster (see the issue #8 report);
// the README shows the text next to a target the run missed.
export const MISSED = {
  rss:
    'Why: not the caches — after a full GC the heap holds about 21 MiB at full scale, 18 MiB of it there with no objects at all. ' +
    'RSS is (1) the runtime and modules: 114 MiB idle under `node src/cli/main.ts` (type stripping keeps every module\'s source and the stripper resident), 89 MiB for the compiled build; ' +
    '(2) start-up garbage that is never given back: the informers list 500 objects a page, a page of 4 KiB Secrets is about 3 MB of JSON parsed whole, and V8 grows its young generation ' +
    'for that garbage (heap total about 160 MiB for 30–80 MiB used) and keeps it, as the allocator keeps what it was given; RSS falls to about 190 MiB only minutes later. ' +
    'Measured on the same 10 000-Secret cluster (compiled build, two cold starts each): as is 293–311 MiB; with `--max-semi-space-size=2` 200–229; with that and Secret pages of 100 objects 156–172 at start-up and 143–156 30 s later ' +
    '(malloc tuning, `MALLOC_ARENA_MAX=2` or a fixed mmap threshold, changed nothing). ' +
    'What would close it: `NODE_OPTIONS=--max-semi-space-size=2` in the image or chart, a page of about 100 for the Secret informer (or parsing a LIST body item by item instead of whole), and measuring the compiled build; all three together are at the target, streaming the LIST is what would put it clearly under.',
  warmWrites: 'A warm start must write nothing; see the controller log kept under .tmp/bench-logs/ for what it wrote.',
  reactionP99:
    'Compare the controller histogram with the client-side time: if the histogram is low, the time went to the API server and the watch on this busy machine; if it is high, profile the controller (`npm run bench -- --profile`).',
  reactionLists: 'A LIST during a Secret update means an informer re-listed (410 Gone) or something scans: see keyvault_reloader_relists_total.',
  reactionPatches: 'More PATCHes than updates are retries after 409 Conflict (the Deployment controller writing the same object) or a duplicate restart.',
  burstOnce: 'A workload restarted twice for one change, or not at all: see the controller log kept under .tmp/bench-logs/.',
  burstCap:
    'The cap is enforced where restarts are granted in src/reloader/controller.ts; compare the controller-log and watch columns (completions bunched by API latency show on both). ' +
    'Before commit 46cb008 the grant was p-queue\'s `intervalCap` in fixed 1000 ms windows, which this benchmark measured at 88–98 restarts in one second against a cap of 50; ' +
    '`node bench/rate-cap.ts` reproduces that without a cluster (fixed windows 58–68, `strict: true` exactly 50, same drain time).',
  steadyWrites: 'Nothing changed, so any write is a bug: see the controller log kept under .tmp/bench-logs/.',
} as const;
