'use strict';
// Awaits a condition with a bounded deadline (no fixed sleeps in the tests).
async function waitFor(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (await condition()) return;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

module.exports = { waitFor };
