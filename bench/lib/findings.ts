// What to look at when a target is missed; the README shows the text next to
// a target the run missed.
export const MISSED = {
  rss:
    'Look at the anonymous / file-backed split and the V8 heap in the same row: file-backed pages are the Node binary and modules (about 50 MiB), the heap holds the caches (about 20 MiB at this scale); ' +
    'anonymous memory well above the heap is garbage the allocator kept (a LIST parsed whole, a young generation grown): `npm run bench -- --profile` writes heap profiles.',
  peakRss: 'The peak is reached while the informers list: see the RSS note above, and whether the Node flags in results.json are the Dockerfile\'s.',
  rssVsPeer: 'Compare the two rows: the peer caches every Secret in full, we keep a digest of each; a gap the other way means our base (runtime and modules) dominates at this scale.',
  cpuVsPeer: 'Start-up CPU is listing and projecting every object: profile it with `npm run bench -- --profile` (the .cpuprofile of each start is summarized at the end).',
  idleCpu: 'Something ticks while nothing changes: timers, watchdogs or a metrics collector. The idle windows of each run are in results.json; profile an idle controller with --cpu-prof.',
  reactionP99:
    'Compare with the deferrals row (a conflict or a rollout in progress adds a round trip) and with clientSamplesMs in results.json (a few slow samples in a row point at the machine, a regular pattern at a timer).',
  flatTail:
    'See clientSamplesMs in results.json for where the slow samples fall, and the deferrals row: a conflict (409) or a rollout in progress waits for the next watch event.',
  warmWrites: 'A warm start must write nothing; see the controller log kept under .tmp/bench-logs/ for what it wrote.',
  reactionRequests: 'A LIST during a Secret update means an informer re-listed (410 Gone) or something scans; more PATCHes than updates are retries after 409 Conflict or a duplicate restart.',
  burstOnce: 'A workload restarted twice for one change, or not at all: see the controller log kept under .tmp/bench-logs/.',
  burstCap: 'The cap is enforced where restarts are granted in src/reloader/controller.ts; `node bench/rate-cap.ts` shows fixed against sliding windows without a cluster.',
  growth: 'A figure growing faster than the objects points at work per object that depends on the total (a scan instead of an index lookup), or at the machine running out of room.',
} as const;
