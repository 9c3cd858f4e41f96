// Calling a function every `ms` without overlapping calls, until the returned stop is called.

export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  async function tick() {
    if (stopped) return;
    try {
      await fn();
    } catch (error) {
      console.warn("poll", error);
    }
    if (!stopped) timer = setTimeout(tick, ms);
  }
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
