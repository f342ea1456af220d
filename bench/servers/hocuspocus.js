/**
 * @hocuspocus/server v3 with no extensions (no persistence), as a peer to compare against.
 *
 *   PORT=1234 HOST=127.0.0.1 node bench/servers/hocuspocus.js
 */
import { Server } from '@hocuspocus/server'

const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 1234)

const server = new Server({ port, address: host, quiet: true, stopOnSignals: true })
await server.listen()
console.log(JSON.stringify({ msg: 'listening', port: server.address.port }))
