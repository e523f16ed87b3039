// DOM writes wait for the next animation frame and run together, so a burst of events (a drag, a
// hundred deltas) costs one style and layout pass. Writes are keyed: a later write to the same key
// replaces an earlier one that has not run yet.

const pending = new Map();
let requested = false;

function flush() {
  requested = false;
  const jobs = [...pending.values()];
  pending.clear();
  for (const job of jobs) job();
}

export function write(key, job) {
  pending.set(key, job);
  if (!requested) {
    requested = true;
    requestAnimationFrame(flush);
  }
}

// Work that may wait for idle time, in slices that leave the page responsive.
export function idle(job) {
  if (window.requestIdleCallback) requestIdleCallback(job, { timeout: 500 });
  else setTimeout(() => job({ timeRemaining: () => 8, didTimeout: true }), 16);
}
