/**
 * The multiplexed framing (Hocuspocus compatible): `/ws`, many rooms per socket, each authorised by
 * its own auth message. A room's frames are queued (bounded per socket) until it is authorised and
 * loaded; a denied room gets PermissionDenied while the socket stays open for the others. Nothing of
 * a room is loaded or sent before its auth passes.
 */
import type { WebSocketBehavior } from 'uWebSockets.js'
import { decodeMultiplexedFrame, encodeMultiplexedFrame, type Message } from '@tandem/client/protocol'
import { accessFor } from '../auth/access.js'
import { AppError, CLOSE_CODE, isValidRoomName, toAppError } from '../errors.js'
import { dispatch } from './dispatch.js'
import { SocketPeer } from './peer.js'
import { principalFor } from './upgrade.js'
import { clearSocketTimers, closeSocket, overRateLimit, updateExpiry, sendFrame, type Binding, type MultiplexedSocket, type Socket, type SocketData } from './socket.js'
import type { WsContext } from './context.js'

/** Rooms one socket may hold that are not yet joined (Hocuspocus caps pending documents at 100). */
const MAX_PENDING_ROOMS = 100

export function multiplexedBehavior(ctx: WsContext): Pick<WebSocketBehavior<SocketData>, 'open' | 'message' | 'close'> {
  const detach = (peer: SocketPeer): void => {
    const data = peer.ws.getUserData() as MultiplexedSocket
    const binding = data.bindings.get(peer.address)
    if (binding?.peer !== peer) return
    data.bindings.delete(peer.address)
    leave(binding)
    updateExpiry(peer.ws)
  }

  const leave = (binding: Binding): void => {
    const { peer, room } = binding
    if (peer === null) return
    peer.markLeft()
    ctx.fanout.remove(peer)
    room?.leave(peer)
  }

  const dropPending = (data: MultiplexedSocket, binding: Binding): void => {
    data.queuedMessages -= binding.pending.messages.length
    data.queuedBytes -= binding.pending.bytes
    binding.pending = { messages: [], bytes: 0 }
  }

  const deny = (ws: Socket, binding: Binding, err: AppError): void => {
    const data = ws.getUserData() as MultiplexedSocket
    if (binding.state === 'joined') leave(binding)
    binding.state = 'denied'
    binding.principal = null
    binding.peer = null
    binding.room = null
    dropPending(data, binding)
    updateExpiry(ws)
    sendFrame(ws, encodeMultiplexedFrame(binding.address, { type: 'permission-denied', reason: err.code }))
  }

  /**
   * Ends one room's session on a condition that concerns only it (the room failed to load): `close` on
   * its address with the code first, as SocketPeer.close does for room-level codes, and the socket stays
   * open for the others. The address is forgotten, so the client may authenticate it again.
   */
  const fail = (ws: Socket, binding: Binding, code: number, reason: string): void => {
    const data = ws.getUserData() as MultiplexedSocket
    if (data.bindings.get(binding.address) === binding) data.bindings.delete(binding.address)
    dropPending(data, binding)
    leave(binding)
    updateExpiry(ws)
    sendFrame(ws, encodeMultiplexedFrame(binding.address, { type: 'close', reason: `${code} ${reason}` }))
  }

  const authorize = async (ws: Socket, binding: Binding, token: string): Promise<void> => {
    const data = ws.getUserData() as MultiplexedSocket
    const current = (): boolean => !data.closed && data.bindings.get(binding.address) === binding
    binding.state = 'authorizing'
    if (!isValidRoomName(binding.roomId)) return deny(ws, binding, new AppError('invalid_room_name'))
    let principal
    try {
      principal = token === '' && data.principal !== null ? data.principal : await principalFor(ctx.verifier, token)
    } catch (err) {
      if (current()) deny(ws, binding, toAppError(err))
      return
    }
    if (!current()) return
    // A user closed with 4429 moments ago may not come back through another socket's auth message.
    if (ctx.penalties.remainingMs(principal.userId) > 0) return closeSocket(ws, CLOSE_CODE.rate_limited, 'rate limit exceeded; retry later')
    const access = accessFor(principal, binding.roomId)
    if (access === null) return deny(ws, binding, new AppError('forbidden'))
    binding.principal = principal
    updateExpiry(ws)
    binding.state = 'loading'
    const peer = new SocketPeer(ws, 'multiplexed', binding.address, binding.roomId, principal, access === 'write', detach)
    binding.peer = peer
    let room
    try {
      const prepared = await ctx.registry.prepareJoin(binding.roomId)
      if (!current()) return
      // Before "authenticated": a removed user's old token is refused like any other forbidden one.
      ctx.registry.assertAdmits(prepared, peer)
      // Authenticated goes out before the room's first sync frame, as Hocuspocus providers expect.
      peer.send({ type: 'authenticated', scope: access === 'write' ? 'read-write' : 'readonly' })
      room = await ctx.registry.join(binding.roomId, peer, (joined) => {
        binding.room = joined
        ctx.fanout.add(peer)
      })
    } catch (err) {
      if (!current()) return
      if (err instanceof AppError && (err.code === 'room_not_found' || err.code === 'forbidden')) return deny(ws, binding, err)
      if (err instanceof AppError && err.code === 'unavailable') return fail(ws, binding, CLOSE_CODE.storage_unavailable, err.message)
      ctx.log.error({ err, roomId: binding.roomId }, 'room failed to load')
      return fail(ws, binding, CLOSE_CODE.internal, 'room failed to load')
    }
    if (room === null) return
    if (!current()) {
      leave(binding)
      return
    }
    binding.state = 'joined'
    if (data.authTimer !== null) {
      clearTimeout(data.authTimer)
      data.authTimer = null
    }
    const pending = binding.pending
    dropPending(data, binding)
    for (const message of pending.messages) dispatch(room, peer, message, ctx.config)
  }

  /** A second auth message on a joined room refreshes its token; the scope may change (PROTOCOL.md §4.5). */
  const refresh = async (ws: Socket, binding: Binding, token: string): Promise<void> => {
    const data = ws.getUserData() as MultiplexedSocket
    let principal
    try {
      principal = token === '' && data.principal !== null ? data.principal : await principalFor(ctx.verifier, token)
    } catch (err) {
      if (!data.closed && binding.state === 'joined') deny(ws, binding, toAppError(err))
      return
    }
    if (data.closed || binding.state !== 'joined' || binding.peer === null) return
    const access = accessFor(principal, binding.roomId)
    if (access === null) return deny(ws, binding, new AppError('forbidden'))
    binding.principal = principal
    binding.peer.canWrite = access === 'write'
    updateExpiry(ws)
    binding.peer.send({ type: 'authenticated', scope: access === 'write' ? 'read-write' : 'readonly' })
  }

  const onMessage = (ws: Socket, address: string, message: Message, frameBytes: number): void => {
    const data = ws.getUserData() as MultiplexedSocket
    let binding = data.bindings.get(address)

    if (message.type === 'close') {
      if (binding) {
        data.bindings.delete(address)
        dropPending(data, binding)
        leave(binding)
        updateExpiry(ws)
      }
      return
    }

    if (message.type === 'auth-token') {
      if (message.providerVersion !== null) data.providerVersion = message.providerVersion
      if (binding?.state === 'joined') {
        void refresh(ws, binding, message.token)
        return
      }
      if (binding?.state === 'authorizing' || binding?.state === 'loading') return
      if (!binding) {
        binding = newBinding(address)
        if (!admitBinding(ws, data, binding)) return
      }
      void authorize(ws, binding, message.token)
      return
    }

    if (!binding) {
      binding = newBinding(address)
      if (!admitBinding(ws, data, binding)) return
    }
    if (binding.state === 'joined' && binding.room !== null && binding.peer !== null) {
      dispatch(binding.room, binding.peer, message, ctx.config)
      return
    }
    if (binding.state === 'denied') return
    binding.pending.messages.push(message)
    binding.pending.bytes += frameBytes
    data.queuedMessages += 1
    data.queuedBytes += frameBytes
    if (data.queuedMessages > ctx.config.preAuthMaxMessages || data.queuedBytes > ctx.config.preAuthMaxBytes) {
      closeSocket(ws, CLOSE_CODE.policy, 'too many frames before authentication')
    }
  }

  /**
   * Tracks a new address unless the socket already holds MAX_PENDING_ROOMS that are not joined
   * (denied ones count: they are kept to drop their frames). Over the cap the room alone is refused,
   * so a client that opens many rooms at once is not disconnected from the ones it has.
   */
  const admitBinding = (ws: Socket, data: MultiplexedSocket, binding: Binding): boolean => {
    let waiting = 0
    for (const b of data.bindings.values()) if (b.state !== 'joined') waiting += 1
    if (waiting >= MAX_PENDING_ROOMS) {
      sendFrame(ws, encodeMultiplexedFrame(binding.address, { type: 'permission-denied', reason: 'too_many_rooms' }))
      return false
    }
    data.bindings.set(binding.address, binding)
    return true
  }

  return {
    open(ws) {
      // No uWS call on `ws` in here (see upgradeHandler): rooms are joined when their auth messages arrive.
      const data = ws.getUserData() as MultiplexedSocket
      ctx.sockets.add(ws)
      ctx.metrics.connectionOpened('multiplexed')
      // An already expired token would close the socket from in here: arm the timer after cork() returned.
      queueMicrotask(() => {
        if (!data.closed) updateExpiry(ws)
      })
      data.authTimer = setTimeout(() => {
        data.authTimer = null
        closeSocket(ws, CLOSE_CODE.auth_timeout, 'no room was authorised in time')
      }, ctx.config.authTimeoutMs)
    },

    message(ws, buffer, isBinary) {
      const data = ws.getUserData()
      if (data.closed) return
      ctx.metrics.messageIn(buffer.byteLength)
      if (!isBinary) return closeSocket(ws, CLOSE_CODE.unsupported_data, 'text frames are not supported')
      if (buffer.byteLength > ctx.config.maxMessageBytes) return closeSocket(ws, CLOSE_CODE.too_big, 'message too big')
      if (overRateLimit(data, buffer.byteLength, ctx.config)) return closeSocket(ws, CLOSE_CODE.rate_limited, 'rate limit exceeded')
      const decoded = decodeMultiplexedFrame(new Uint8Array(buffer.slice(0)))
      if (!decoded.ok) {
        ctx.metrics.decodeError(decoded.reason)
        return closeSocket(ws, CLOSE_CODE.bad_frame, decoded.reason)
      }
      const frame = decoded.value
      if (frame.kind !== 'message') return // pong (or a stray ping): keepalive only
      onMessage(ws, frame.address, frame.message, buffer.byteLength)
    },

    close(ws, code) {
      const data = ws.getUserData() as MultiplexedSocket
      data.closed = true
      clearSocketTimers(data)
      ctx.sockets.delete(ws)
      ctx.metrics.connectionClosed('multiplexed', code)
      for (const binding of data.bindings.values()) leave(binding)
      data.bindings.clear()
      data.queuedMessages = 0
      data.queuedBytes = 0
    },
  }
}

/** The room an address names: Hocuspocus sessionAwareness appends `\0<session>` to it. */
function roomIdOf(address: string): string {
  const nul = address.indexOf('\0')
  return nul === -1 ? address : address.slice(0, nul)
}

function newBinding(address: string): Binding {
  return { address, roomId: roomIdOf(address), state: 'awaiting-auth', principal: null, peer: null, room: null, pending: { messages: [], bytes: 0 } }
}
