/**
 * SpeakerStatus: one object per node (named after it), written only by that node's speaker, saying what
 * it announces and how (L2 interfaces, BGP peers), its BGP sessions and how it sees the other speakers.
 * A status-only kind: nothing in it is configuration, and `baregate status` reads it to show which node
 * holds an address without asking every node.
 */
import { conditionsSchema, customResourceDefinition } from './crd.ts';
import type { Condition, ObjectMeta } from './types.ts';

/** How an address is announced. */
export const AnnouncementModes = { L2: 'L2', BGP: 'BGP' } as const;
/** One of {@link AnnouncementModes}. */
export type AnnouncementMode = (typeof AnnouncementModes)[keyof typeof AnnouncementModes];

/** One address this node announces. */
export interface SpeakerAnnouncement {
  ip: string;
  /** `namespace/name` of every Service behind the address (several when shared). */
  services: string[];
  mode: AnnouncementMode;
  /** L2: interfaces the node answers on. */
  interfaces?: string[];
  /** BGP: BGPPeer names the route is sent to. */
  peers?: string[];
}

/** One BGP session of this node. */
export interface SpeakerSession {
  /** BGPPeer name. */
  peer: string;
  /** Peer address. */
  address: string;
  /** FSM state (`Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`, `Established`). */
  state: string;
  /** RFC 3339 time the session last became Established. */
  establishedSince?: string;
  prefixesSent?: number;
  lastError?: string;
  /** The BFD session to the peer, when its BGPPeer names a BFDProfile. */
  bfd?: SpeakerBfdSession;
}

/** The BFD session (RFC 5880) beside one BGP session. */
export interface SpeakerBfdSession {
  /** `AdminDown`, `Down`, `Init` or `Up`. */
  state: string;
  /** RFC 3339 time it last became Up. */
  upSince?: string;
  /** Why it last left Up (RFC 5880 diagnostic, e.g. `control detection time expired`). */
  lastDiagnostic?: string;
  /** Single hop (RFC 5881, UDP 3784) or multihop (RFC 5883, UDP 4784). */
  multihop: boolean;
  /** The agreed transmit interval and the detection time, ms. */
  transmitIntervalMs?: number;
  detectionTimeMs?: number;
  /** Why the last packet from the peer was dropped before the session saw it (a TTL below minimumTtl, …). */
  lastDropped?: string;
}

/** How this speaker sees another (the liveness view: alive, suspect, leaving). */
export interface SpeakerMember {
  node: string;
  state: string;
}

/**
 * Counts for `kubectl get speakerstatuses`: printer columns show one value per column (a JSONPath over a
 * list shows its first element only), so the writer puts the numbers here, next to the lists they count.
 */
export interface SpeakerStatusSummary {
  /** Addresses this node announces (L2 and BGP). */
  announced: number;
  /** BGP sessions in state Established, and all sessions of this node. */
  sessionsEstablished: number;
  sessions: number;
  /** Speakers seen alive (this one included), and all known. */
  membersAlive: number;
  members: number;
}

/** `SpeakerStatus.status`. */
export interface SpeakerStatusStatus {
  /** The node (the object's name, repeated for tools that read only status). */
  node: string;
  summary?: SpeakerStatusSummary;
  announcements?: SpeakerAnnouncement[];
  sessions?: SpeakerSession[];
  members?: SpeakerMember[];
  conditions?: Condition[];
}

/** The SpeakerStatus object as the speaker writes it and `baregate status` reads it. */
export interface SpeakerStatusObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  status?: SpeakerStatusStatus;
}

const stringList = { type: 'array', items: { type: 'string' } } as const;

/** The full CustomResourceDefinition for SpeakerStatus. */
export function speakerStatusCRD(): Record<string, unknown> {
  return customResourceDefinition({
    kind: 'SpeakerStatus',
    description: 'What the speaker of one node (the object name) announces and how, its BGP sessions and its view of the other speakers. Written by that speaker only.',
    printerColumns: [
      { name: 'Node', type: 'string', jsonPath: '.status.node' },
      { name: 'Announced', type: 'integer', jsonPath: '.status.summary.announced', description: 'Addresses this node announces' },
      { name: 'Sessions Up', type: 'integer', jsonPath: '.status.summary.sessionsEstablished', description: 'BGP sessions Established' },
      { name: 'Sessions', type: 'integer', jsonPath: '.status.summary.sessions' },
      { name: 'Members Alive', type: 'integer', jsonPath: '.status.summary.membersAlive', priority: 1 },
      { name: 'Members', type: 'integer', jsonPath: '.status.summary.members', priority: 1 },
    ],
    properties: {
      status: {
        type: 'object',
        required: ['node'],
        properties: {
          node: { type: 'string' },
          summary: {
            type: 'object',
            description: 'Counts of the lists below, for kubectl get.',
            properties: Object.fromEntries(['announced', 'sessionsEstablished', 'sessions', 'membersAlive', 'members'].map((k) => [k, { type: 'integer', minimum: 0 }])),
          },
          announcements: {
            type: 'array',
            items: {
              type: 'object',
              required: ['ip', 'services', 'mode'],
              properties: {
                ip: { type: 'string' },
                services: stringList,
                mode: { type: 'string', enum: ['L2', 'BGP'] },
                interfaces: stringList,
                peers: stringList,
              },
            },
          },
          sessions: {
            type: 'array',
            items: {
              type: 'object',
              required: ['peer', 'address', 'state'],
              properties: {
                peer: { type: 'string' },
                address: { type: 'string' },
                state: { type: 'string' },
                establishedSince: { type: 'string', format: 'date-time' },
                prefixesSent: { type: 'integer', format: 'int64', minimum: 0 },
                lastError: { type: 'string' },
                bfd: {
                  type: 'object',
                  description: 'The BFD session to the peer (present when its BGPPeer names a BFDProfile).',
                  required: ['state', 'multihop'],
                  properties: {
                    state: { type: 'string', enum: ['AdminDown', 'Down', 'Init', 'Up'] },
                    upSince: { type: 'string', format: 'date-time' },
                    lastDiagnostic: { type: 'string' },
                    multihop: { type: 'boolean' },
                    transmitIntervalMs: { type: 'integer', minimum: 0 },
                    detectionTimeMs: { type: 'integer', minimum: 0 },
                    lastDropped: { type: 'string', description: 'Why the last packet from the peer was dropped before the session saw it (e.g. a TTL below the profile\'s minimumTtl).' },
                  },
                },
              },
            },
          },
          members: {
            type: 'array',
            items: { type: 'object', required: ['node', 'state'], properties: { node: { type: 'string' }, state: { type: 'string' } } },
          },
          conditions: conditionsSchema,
        },
      },
    },
  });
}
