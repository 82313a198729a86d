// Serialised runs of an asynchronous job, for reloads after file changes: runs never overlap. A
// call made while a run is going starts one more run after it, and every call made in between
// shares that run. So a burst of calls costs at most two runs, and the last run starts after the
// last call (it sees the files as they were then).
export function coalesce<T>(job: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let queued: Promise<T> | undefined;
  const start = (): Promise<T> => {
    const run = job().finally(() => {
      running = undefined;
    });
    running = run;
    return run;
  };
  const next = (): Promise<T> => {
    queued = undefined;
    return start();
  };
  return () => {
    if (queued) return queued;
    if (!running) return start();
    queued = running.then(next, next);
    return queued;
  };
}
