#!/usr/bin/env node
// Decodes one GTFS-Realtime FeedMessage with the official bindings (npm gtfs-realtime-bindings,
// https://github.com/MobilityData/gtfs-realtime-bindings) and prints it as one line of JSON:
// the bindings' field names (camelCase), enums by name, 64-bit integers as numbers, only the
// fields present on the wire. tests/integration/test_gtfsrt.c checks buyt's feeds with it: a
// decoder nobody in this project wrote.
//   node decode.js FILE      (or - for stdin)
// Exit status 1 (message on stderr) when the bytes are not a valid FeedMessage.
'use strict';

const fs = require('fs');
const { transit_realtime: rt } = require('gtfs-realtime-bindings');

const arg = process.argv[2];
if (!arg) {
  process.stderr.write('usage: decode.js FILE|-\n');
  process.exit(2);
}
const bytes = fs.readFileSync(arg === '-' ? 0 : arg);
let msg;
try {
  msg = rt.FeedMessage.decode(bytes); // throws on malformed bytes or a missing required field
} catch (e) {
  process.stderr.write(`decode.js: not a FeedMessage: ${e.message}\n`);
  process.exit(1);
}
const problem = rt.FeedMessage.verify(msg);
if (problem) {
  process.stderr.write(`decode.js: invalid FeedMessage: ${problem}\n`);
  process.exit(1);
}
const obj = rt.FeedMessage.toObject(msg, { enums: String, longs: Number, defaults: false });
process.stdout.write(JSON.stringify(obj) + '\n');
