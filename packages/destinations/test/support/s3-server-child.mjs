// s3rver in its own process: it needs OpenSSL's legacy provider (DES) for truncated listings, which the
// parent sets through NODE_OPTIONS for this process only. Prints {"port": N} once listening on 127.0.0.1.
import process from 'node:process';
import S3rver from 's3rver';

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: process.argv[2],
  resetOnClose: true,
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
