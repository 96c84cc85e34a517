// A `--require` preload for the gateway process (bench/ttfb-timeline.ts): for each request the HTTP server
// receives (one at a time), the times in microseconds from its 'request' event at which the process's sockets
// wrote (`w`: the write began, `wd`: it returned) and read (`r`), with the peer's port and the byte count;
// appended as one JSON line per request to SOCKET_TIMELINE_FILE. `globalThis.__mark(name)` adds a named point
// (for temporary marks in the code under study). On a loopback host a write to a sleeping peer often returns only
// after that peer has run, so `wd - w` shows the peer's time inside the write.
'use strict';
const net = require('node:net');
const http = require('node:http');
const fs = require('node:fs');

const file = process.env.SOCKET_TIMELINE_FILE || `/tmp/socket-timeline-${process.pid}.jsonl`;
let current = null;
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

function peerPort(socket) {
  try {
    return socket.remotePort || 0;
  } catch {
    return 0;
  }
}

function mark(kind, port, bytes) {
  if (current) current.events.push([nowUs() - current.t0, kind, port, bytes]);
}
globalThis.__mark = (name) => mark(name, 0, 0);

const writeGeneric = net.Socket.prototype._writeGeneric;
net.Socket.prototype._writeGeneric = function (writev, data, encoding, cb) {
  let bytes = 0;
  if (writev) for (const d of data) bytes += d.chunk ? d.chunk.length : d.length;
  else bytes = data.length;
  const port = peerPort(this);
  mark('w', port, bytes);
  const out = writeGeneric.call(this, writev, data, encoding, cb);
  mark('wd', port, bytes);
  return out;
};

const push = net.Socket.prototype.push;
net.Socket.prototype.push = function (chunk, encoding) {
  if (chunk) mark('r', peerPort(this), chunk.length);
  return push.call(this, chunk, encoding);
};

function flush() {
  if (current) fs.appendFileSync(file, `${JSON.stringify({ url: current.url, events: current.events })}\n`);
  current = null;
}

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, req, res) {
  if (event === 'request') {
    flush();
    const mine = { t0: nowUs(), url: req.url, events: [] };
    current = mine;
    res.on('close', () => setTimeout(() => current === mine && flush(), 5));
  }
  return emit.apply(this, arguments);
};
