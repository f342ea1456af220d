/**
 * Room fan-out through uWS topics: one topic per room per framing, so a frame is encoded once per
 * framing and the per-peer send loop runs in C++. Only multiplexed peers with a non-plain address
 * (Hocuspocus sessionAwareness, `name\0session`) need a frame of their own.
 */
import type { TemplatedApp } from 'uWebSockets.js'
import { encodeMultiplexedFrame, encodeSingleFrame, type Message } from '@tandem/client/protocol'
import type { Broadcast, Peer } from '../rooms/peer.js'
import { SocketPeer } from './peer.js'
import type { Metrics } from '../metrics.js'
import { multiplexedTopic, singleTopic } from './socket.js'

export interface Fanout {
  broadcast: Broadcast
  /** Subscribes the peer's socket to the room's topic, or tracks it for per-peer sends. */
  add(peer: SocketPeer): void
  remove(peer: SocketPeer): void
}

export function createFanout(app: TemplatedApp, metrics: Pick<Metrics, 'framesOut'>): Fanout {
  const individual = new Map<string, Set<SocketPeer>>()

  const publish = (topic: string, encode: () => Uint8Array, except: SocketPeer | undefined): void => {
    const subscribers = app.numSubscribers(topic)
    if (subscribers === 0) return
    const frame = encode()
    metrics.framesOut(except ? subscribers - 1 : subscribers, frame.byteLength)
    // ws.publish skips the publishing socket itself: that is how the sender is excluded.
    if (except && !except.closed) except.ws.publish(topic, frame, true, false)
    else app.publish(topic, frame, true, false)
  }

  return {
    broadcast(roomId: string, message: Message, except?: Peer) {
      const origin = except instanceof SocketPeer ? except : undefined
      // Stateless messages exist only in the multiplexed framing; y-websocket clients never see them.
      if (message.type !== 'stateless') {
        publish(singleTopic(roomId), () => encodeSingleFrame(message), origin?.framing === 'single' ? origin : undefined)
      }
      publish(
        multiplexedTopic(roomId),
        () => encodeMultiplexedFrame(roomId, message),
        origin?.framing === 'multiplexed' && origin.usesTopic ? origin : undefined,
      )
      const others = individual.get(roomId)
      if (others) for (const peer of others) if (peer !== except) peer.send(message)
    },

    add(peer) {
      if (peer.usesTopic) {
        const topic = peer.framing === 'single' ? singleTopic(peer.roomId) : multiplexedTopic(peer.roomId)
        peer.ws.subscribe(topic)
        return
      }
      let set = individual.get(peer.roomId)
      if (!set) {
        set = new Set()
        individual.set(peer.roomId, set)
      }
      set.add(peer)
    },

    remove(peer) {
      if (peer.usesTopic) {
        if (peer.framing === 'multiplexed' && !peer.ws.getUserData().closed) peer.ws.unsubscribe(multiplexedTopic(peer.roomId))
        return
      }
      const set = individual.get(peer.roomId)
      if (!set) return
      set.delete(peer)
      if (set.size === 0) individual.delete(peer.roomId)
    },
  }
}

