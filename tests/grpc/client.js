// client.js — an independent GetEvents client for vigil's tests, on @grpc/grpc-js and
// @grpc/proto-loader (loading our proto/ files at run time).
// usage: node client.js ADDR CA CERT KEY FILTER_JSON COUNT
// Prints "subscribed", then each response as one JSON line (proto field names,
// enums as names, 64-bit ints as strings), and exits after COUNT responses.
'use strict';
const path = require('path');
const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [addr, ca, cert, key, filter, count] = process.argv.slice(2);
const root = path.join(__dirname, '..', '..', 'proto');
const def = loader.loadSync('tetragon/sensors.proto', {
  includeDirs: [root], keepCase: true, longs: String, enums: String, defaults: false, oneofs: true,
});
const tetragon = grpc.loadPackageDefinition(def).tetragon;
const creds = grpc.credentials.createSsl(fs.readFileSync(ca), fs.readFileSync(key),
  fs.readFileSync(cert));
const client = new tetragon.FineGuidanceSensors(addr, creds,
  { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
let n = 0;
const call = client.GetEvents(JSON.parse(filter));
call.on('metadata', () => console.log('subscribed'));
call.on('data', (r) => {
  console.log(JSON.stringify(r));
  if (++n >= Number(count)) {
    call.cancel();
    process.exit(0);
  }
});
call.on('error', (e) => {
  console.error('error: ' + e.code + ' ' + e.details);
  process.exit(2);
});
