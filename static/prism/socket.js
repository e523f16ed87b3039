// One WebSocket per canvas page, reconnecting with backoff; every reconnect starts with snapshots.

export function connectCanvas(canvasId, onEvent, onState) {
  let socket = null;
  let attempt = 0;
  let closed = false;

  function open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/canvases/${canvasId}/?frames=batch`);
    onState("connecting");
    socket.addEventListener("open", () => { attempt = 0; onState("live"); });
    socket.addEventListener("message", (message) => {
      // One event, or an array of several to apply in order (a tick of a worker's deltas).
      const data = JSON.parse(message.data);
      for (const event of Array.isArray(data) ? data : [data]) onEvent(event);
    });
    socket.addEventListener("close", (event) => {
      if (closed) return;
      if (event.code === 4403) { onState("denied"); return; }
      onState("offline");
      attempt += 1;
      setTimeout(open, Math.min(10000, 250 * 2 ** attempt));
    });
  }

  open();
  return {
    reconnect() { socket.close(); },
    close() { closed = true; socket.close(); },
    // Client → server messages (presence, comments); false when the socket is not open.
    send(message) {
      if (socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(message));
      return true;
    },
  };
}
