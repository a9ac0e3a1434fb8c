/**
 * BGP-4 message model: the plain objects the codec turns bytes into and back, the protocol constants
 * they use, and the typed decode error. No logic lives here beyond the error class, so the FSM, the
 * session and the speaker can import the model without pulling in the codec.
 */
import { BaregateError, ErrorCodes } from '../api/errors.ts';

/** Message types (RFC 4271 §4.1, RFC 2918). */
export const MessageType = { Open: 1, Update: 2, Notification: 3, Keepalive: 4, RouteRefresh: 5 } as const;
/** One of {@link MessageType}. */
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType];

/** Address families we parse NLRI for; others stay raw bytes. */
export const Afi = { IPv4: 1, IPv6: 2 } as const;
/** One of {@link Afi}. */
export type AfiValue = (typeof Afi)[keyof typeof Afi];

/** Subsequent address families whose NLRI is a plain prefix list (RFC 4760); others stay raw bytes. */
export const Safi = { Unicast: 1, Multicast: 2 } as const;
/** One of {@link Safi}. */
export type SafiValue = (typeof Safi)[keyof typeof Safi];

/** Fixed sizes and limits (RFC 4271 §4, RFC 8654). */
export const Limits = {
  /** Header: 16-byte marker, length u16, type u8. */
  HeaderLength: 19,
  /** Largest message without RFC 8654, and always for OPEN and KEEPALIVE. */
  MaxMessage: 4096,
  /** Largest message once both sides advertised the extended message capability. */
  MaxExtendedMessage: 65535,
  /** Minimum whole-message lengths per type (RFC 4271 §4.2–4.5). */
  MinOpen: 29,
  MinUpdate: 23,
  MinNotification: 21,
  /** KEEPALIVE and ROUTE-REFRESH have exactly one valid length. */
  Keepalive: 19,
  RouteRefresh: 23,
} as const;

/** The 2-octet placeholder for a 4-octet ASN (RFC 6793 §9). */
export const AS_TRANS = 23456;

/** The only BGP version we speak; an OPEN with another one is answered with 2/1 carrying this. */
export const BGP_VERSION = 4;

/** NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313). */
export const NotificationCode = {
  MessageHeader: 1,
  Open: 2,
  Update: 3,
  HoldTimerExpired: 4,
  Fsm: 5,
  Cease: 6,
  RouteRefresh: 7,
  /** RFC 9687: we could not send for the send hold time (the peer stopped reading). */
  SendHoldTimerExpired: 8,
} as const;

/** Message header error subcodes (RFC 4271 §6.1). */
export const HeaderSubcode = { ConnectionNotSynchronized: 1, BadMessageLength: 2, BadMessageType: 3 } as const;

/** OPEN message error subcodes (RFC 4271 §6.2, RFC 5492). */
export const OpenSubcode = {
  /** A recognized optional parameter (the capabilities list) that is malformed (RFC 4271 §6.2). */
  Unspecific: 0,
  UnsupportedVersion: 1,
  BadPeerAS: 2,
  BadBgpIdentifier: 3,
  UnsupportedOptionalParameter: 4,
  UnacceptableHoldTime: 6,
  UnsupportedCapability: 7,
} as const;

/** UPDATE message error subcodes (RFC 4271 §6.3). */
export const UpdateSubcode = {
  MalformedAttributeList: 1,
  UnrecognizedWellKnownAttribute: 2,
  MissingWellKnownAttribute: 3,
  AttributeFlagsError: 4,
  AttributeLengthError: 5,
  InvalidOrigin: 6,
  InvalidNextHop: 8,
  OptionalAttributeError: 9,
  InvalidNetworkField: 10,
  MalformedAsPath: 11,
} as const;

/** Cease subcodes (RFC 4486, RFC 8203, RFC 8538, RFC 9384), for the NOTIFICATIONs the session sends on stop. */
export const CeaseSubcode = {
  MaxPrefixes: 1,
  AdministrativeShutdown: 2,
  PeerDeconfigured: 3,
  AdministrativeReset: 4,
  ConnectionRejected: 5,
  OtherConfigurationChange: 6,
  ConnectionCollisionResolution: 7,
  OutOfResources: 8,
  HardReset: 9,
  /** RFC 9384: BFD declared the peer unreachable. */
  BfdDown: 10,
} as const;

/** Capability codes we model (RFC 5492 registry); every other code is kept as raw bytes. */
export const CapabilityCode = {
  Multiprotocol: 1,
  RouteRefresh: 2,
  ExtendedMessage: 6,
  GracefulRestart: 64,
  FourOctetAS: 65,
} as const;

/** Path attribute type codes we model; every other code is kept as raw bytes. */
export const AttrCode = {
  Origin: 1,
  AsPath: 2,
  NextHop: 3,
  Med: 4,
  LocalPref: 5,
  AtomicAggregate: 6,
  Aggregator: 7,
  Communities: 8,
  MpReachNlri: 14,
  MpUnreachNlri: 15,
  As4Path: 17,
  As4Aggregator: 18,
  LargeCommunities: 32,
} as const;

/** Attribute flag bits (RFC 4271 §4.3); the low four bits are unused. */
export const AttrFlag = { Optional: 0x80, Transitive: 0x40, Partial: 0x20, ExtendedLength: 0x10 } as const;

/** ORIGIN values (RFC 4271 §5.1.1). */
export const Origin = { Igp: 0, Egp: 1, Incomplete: 2 } as const;
/** One of {@link Origin}. */
export type OriginValue = (typeof Origin)[keyof typeof Origin];

/** AS_PATH segment types (RFC 4271 §4.3, RFC 5065 for the confederation ones). */
export const AsSegmentType = { Set: 1, Sequence: 2, ConfedSequence: 3, ConfedSet: 4 } as const;
/** One of {@link AsSegmentType}. */
export type AsSegmentTypeValue = (typeof AsSegmentType)[keyof typeof AsSegmentType];

/** Well-known communities (RFC 1997, RFC 8326 graceful shutdown, RFC 3765 NOPEER). */
export const WellKnownCommunity = {
  GracefulShutdown: 0xffff0000,
  NoExport: 0xffffff01,
  NoAdvertise: 0xffffff02,
  NoExportSubconfed: 0xffffff03,
  NoPeer: 0xffffff04,
} as const;

/** Graceful restart capability flag bits (RFC 4724 §3, RFC 8538 N bit). */
export const GracefulRestartFlag = { Restarting: 0x8, Notification: 0x4, ForwardingPreserved: 0x80 } as const;

/**
 * An IP prefix as NLRI carries it. `prefix` is canonical text (dotted quad, RFC 5952 IPv6) with all
 * host bits zero, so two equal prefixes compare equal as strings and can key maps.
 */
export interface Prefix {
  readonly afi: AfiValue;
  readonly prefix: string;
  readonly length: number;
}

/**
 * Capabilities (RFC 5492). A modeled code whose bytes do not fit its model exactly (wrong length,
 * non-zero reserved byte) is kept `raw` too, so a peer's OPEN always re-encodes byte for byte.
 */
export type Capability =
  | { readonly kind: 'multiprotocol'; readonly afi: number; readonly safi: number }
  | { readonly kind: 'routeRefresh' }
  | { readonly kind: 'extendedMessage' }
  | { readonly kind: 'fourOctetAS'; readonly asn: number }
  | {
    readonly kind: 'gracefulRestart';
    /** The 4 restart flag bits ({@link GracefulRestartFlag} R and N). */
    readonly flags: number;
    /** Seconds, 12 bits. */
    readonly restartTime: number;
    readonly families: readonly { readonly afi: number; readonly safi: number; readonly flags: number }[];
  }
  | { readonly kind: 'raw'; readonly code: number; readonly data: Buffer };

/** OPEN (RFC 4271 §4.2). */
export interface OpenMessage {
  readonly type: typeof MessageType.Open;
  readonly version: number;
  /** The 2-octet field as sent: {@link AS_TRANS} when the real ASN (in the fourOctetAS capability) is larger. */
  readonly myAS: number;
  readonly holdTime: number;
  /** IPv4 text. */
  readonly bgpIdentifier: string;
  readonly capabilities: readonly Capability[];
  /**
   * How many capabilities each optional parameter carried, when not all in one (some speakers send one
   * capability per parameter). Absent: one parameter, or none when there are no capabilities.
   */
  readonly capabilityGroups?: readonly number[];
  /** RFC 9072 extended parameter lengths were used although the parameters fit the classic form. */
  readonly extendedParameters?: true;
}

/** AS_PATH / AS4_PATH segment. */
export interface AsPathSegment {
  readonly type: AsSegmentTypeValue;
  readonly asns: readonly number[];
}

/** LARGE_COMMUNITIES member (RFC 8092). */
export interface LargeCommunity {
  readonly global: number;
  readonly local1: number;
  readonly local2: number;
}

/**
 * A path attribute. Modeled attributes carry no flags: the encoder writes the canonical ones. `raw`
 * keeps unknown attributes, and MP_REACH/MP_UNREACH of families we do not parse, exactly as received,
 * flags included, so an optional transitive one can be passed along (see passAlong in attributes.ts).
 */
export type PathAttribute =
  | { readonly kind: 'origin'; readonly origin: OriginValue }
  | { readonly kind: 'asPath'; readonly segments: readonly AsPathSegment[] }
  | { readonly kind: 'nextHop'; readonly nextHop: string }
  | { readonly kind: 'med'; readonly med: number }
  | { readonly kind: 'localPref'; readonly localPref: number }
  | { readonly kind: 'atomicAggregate' }
  | { readonly kind: 'aggregator'; readonly asn: number; readonly address: string }
  | { readonly kind: 'communities'; readonly communities: readonly number[] }
  | {
    readonly kind: 'mpReach';
    readonly afi: AfiValue;
    readonly safi: SafiValue;
    /** One IPv4, one IPv6 global, or an IPv6 global and a link-local (RFC 2545 §3). */
    readonly nextHops: readonly string[];
    readonly nlri: readonly Prefix[];
  }
  | { readonly kind: 'mpUnreach'; readonly afi: AfiValue; readonly safi: SafiValue; readonly withdrawn: readonly Prefix[] }
  | { readonly kind: 'as4Path'; readonly segments: readonly AsPathSegment[] }
  | { readonly kind: 'as4Aggregator'; readonly asn: number; readonly address: string }
  | { readonly kind: 'largeCommunities'; readonly largeCommunities: readonly LargeCommunity[] }
  | { readonly kind: 'raw'; readonly code: number; readonly flags: number; readonly data: Buffer };

/** UPDATE (RFC 4271 §4.3). `withdrawn` and `nlri` are the IPv4 unicast fields; other families travel in MP attributes. */
export interface UpdateMessage {
  readonly type: typeof MessageType.Update;
  readonly withdrawn: readonly Prefix[];
  readonly attributes: readonly PathAttribute[];
  readonly nlri: readonly Prefix[];
}

/**
 * A received UPDATE after RFC 7606 error handling. When `treatAsWithdraw` is set, every prefix in `nlri`
 * and in MP_REACH must be handled as withdrawn (routeChanges in codec.ts does that). `errors` lists every
 * problem found, including attributes that were discarded without withdrawing, for logging.
 */
export interface DecodedUpdate extends UpdateMessage {
  readonly treatAsWithdraw: boolean;
  readonly errors: readonly BgpError[];
}

/** NOTIFICATION (RFC 4271 §4.5). */
export interface NotificationMessage {
  readonly type: typeof MessageType.Notification;
  readonly code: number;
  readonly subcode: number;
  readonly data: Buffer;
}

/** KEEPALIVE (RFC 4271 §4.4). */
export interface KeepaliveMessage {
  readonly type: typeof MessageType.Keepalive;
}

/** ROUTE-REFRESH (RFC 2918; `subtype` is the reserved byte RFC 7313 gave meaning to: 0, 1 BoRR, 2 EoRR). */
export interface RouteRefreshMessage {
  readonly type: typeof MessageType.RouteRefresh;
  readonly afi: number;
  readonly subtype: number;
  readonly safi: number;
}

/** Every message we encode. */
export type Message = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/** Every message we decode: the same, with UPDATEs carrying their error handling outcome. */
export type DecodedMessage = OpenMessage | DecodedUpdate | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/**
 * What both ends negotiated; it changes the wire format. `fourOctetAS`: both sent the 4-octet AS
 * capability, so AS_PATH and AGGREGATOR carry 4-octet ASNs. `extendedMessages`: both sent RFC 8654.
 */
export interface CodecContext {
  readonly fourOctetAS: boolean;
  readonly extendedMessages: boolean;
}

/** Decoding also needs to know whether the peer is external: LOCAL_PREF from an eBGP peer is discarded (RFC 7606 §7.5). */
export interface DecodeContext extends CodecContext {
  readonly ebgp?: boolean;
}

/** How RFC 7606 says an error is handled: only `session-reset` ends the session. */
export type ErrorAction = 'session-reset' | 'treat-as-withdraw' | 'attribute-discard';

/** NOTIFICATION fields describing an error. */
export interface NotificationFields {
  readonly code: number;
  readonly subcode: number;
  readonly data: Buffer;
}

/** A protocol error found while decoding, carrying the NOTIFICATION a session reset sends. */
export class BgpError extends BaregateError {
  /** What to send the peer if this error resets the session. */
  readonly notification: NotificationFields;
  /** RFC 7606 handling; anything but `session-reset` only appears inside a decoded UPDATE's `errors`. */
  readonly action: ErrorAction;

  constructor(code: number, subcode: number, message: string, data: Buffer = Buffer.alloc(0), action: ErrorAction = 'session-reset') {
    super(ErrorCodes.Bgp, `BGP error ${code}/${subcode}: ${message}`);
    this.name = 'BgpError';
    this.notification = { code, subcode, data };
    this.action = action;
  }

  /** The NOTIFICATION message to send for this error. */
  toMessage(): NotificationMessage {
    return { type: MessageType.Notification, ...this.notification };
  }
}

/** A decode outcome: decoders return this and never throw. */
export type DecodeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: BgpError };

/** Largest message length allowed for a message type in a context (OPEN and KEEPALIVE never exceed 4096, RFC 8654 §4). */
export function maxMessageLength(ctx: Pick<CodecContext, 'extendedMessages'>, type?: number): number {
  if (!ctx.extendedMessages || type === MessageType.Open || type === MessageType.Keepalive) return Limits.MaxMessage;
  return Limits.MaxExtendedMessage;
}
