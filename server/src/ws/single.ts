/**
 * The single framing (y-websocket compatible): `/ws/<room>`, one room per socket, authorised at the
 * upgrade. Frames that arrive while the room loads are queued (bounded) and replayed in order.
 */
import type { WebSocketBehavior } from 'uWebSockets.js'
import { decodeSingleFrame } from '@tandem/client/protocol'
import { AppError, CLOSE_CODE } from '../errors.js'
import { dispatch } from './dispatch.js'
import { SocketPeer } from './peer.js'
import { clearSocketTimers, closeSocket, overRateLimit, updateExpiry, type SingleSocket, type Socket, type SocketData } from './socket.js'
import type { WsContext } from './context.js'
import type { Room } from '../rooms/room.js'

export function singleBehavior(ctx: WsContext): Pick<WebSocketBehavior<SocketData>, 'open' | 'message' | 'close'> {
  return {
    open(ws) {
      // No uWS call on `ws` in here (see upgradeHandler): the room join subscribes and sends after an await.
      const data = ws.getUserData() as SingleSocket
      ctx.sockets.add(ws)
      ctx.metrics.connectionOpened('single')
      // An already expired token would close the socket from in here: arm the timer after cork() returned.
      queueMicrotask(() => {
        if (!data.closed) updateExpiry(ws)
      })
      const peer = new SocketPeer(ws, 'single', data.roomId, data.roomId, data.principal, data.canWrite, null)
      data.peer = peer
      const subscribe = (room: Room): void => {
        data.room = room
        ctx.fanout.add(peer)
      }
      ctx.registry.join(data.roomId, peer, subscribe).then(
        (room) => {
          if (room === null || data.closed) return
          const pending = data.pending
          data.pending = null
          for (const message of pending?.messages ?? []) dispatch(room, peer, message, ctx.config)
        },
        (err: unknown) => {
          if (err instanceof AppError && err.code === 'room_not_found') return closeSocket(ws, CLOSE_CODE.room_not_found, 'room not found')
          if (err instanceof AppError && err.code === 'forbidden') return closeSocket(ws, CLOSE_CODE.forbidden, err.message)
          if (err instanceof AppError && err.code === 'unavailable') return closeSocket(ws, CLOSE_CODE.storage_unavailable, err.message)
          ctx.log.error({ err, roomId: data.roomId }, 'room failed to load')
          closeSocket(ws, CLOSE_CODE.internal, 'room failed to load')
        },
      )
    },

    message(ws, buffer, isBinary) {
      const data = ws.getUserData() as SingleSocket
      if (data.closed) return
      ctx.metrics.messageIn(buffer.byteLength)
      if (!isBinary) return closeSocket(ws, CLOSE_CODE.unsupported_data, 'text frames are not supported')
      if (buffer.byteLength > ctx.config.maxMessageBytes) return closeSocket(ws, CLOSE_CODE.too_big, 'message too big')
      // uWS reuses the buffer after this callback returns: copy once, decode views into the copy.
      const decoded = decodeSingleFrame(new Uint8Array(buffer.slice(0)))
      if (!decoded.ok) {
        ctx.metrics.decodeError(decoded.reason)
        return closeSocket(ws, CLOSE_CODE.bad_frame, decoded.reason)
      }
      // Charged per message: y-websocket v4 may pack several into one frame.
      if (overRateLimit(data, buffer.byteLength, ctx.config, decoded.value.length)) return closeSocket(ws, CLOSE_CODE.rate_limited, 'rate limit exceeded')
      const { room, peer, pending } = data
      if (room !== null && peer !== null) {
        for (const message of decoded.value) dispatch(room, peer, message, ctx.config)
        return
      }
      if (pending === null) return
      pending.messages.push(...decoded.value)
      pending.bytes += buffer.byteLength
      if (pending.messages.length > ctx.config.preAuthMaxMessages || pending.bytes > ctx.config.preAuthMaxBytes) {
        closeSocket(ws, CLOSE_CODE.policy, 'too many frames before the room was ready')
      }
    },

    close(ws: Socket, code) {
      const data = ws.getUserData() as SingleSocket
      data.closed = true
      data.pending = null
      clearSocketTimers(data)
      ctx.sockets.delete(ws)
      ctx.metrics.connectionClosed('single', code)
      const { peer, room } = data
      if (peer !== null) {
        peer.markLeft()
        ctx.fanout.remove(peer)
        room?.leave(peer)
      }
    },
  }
}
