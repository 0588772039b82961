/**
 * An EVA-DTS audit as vendgate reads it (EVA-DTS 6.x, "Data Dictionary":
 * the segments named below and their element positions). Every amount is
 * an integer in the currency's minor units, scaled from the audit's own
 * decimal places (ID401); counts are plain integers. A field the audit left
 * empty is absent, never 0.
 */

/** A value and a count, as the "since initialisation" and "since last reset" pairs of VA/CA/DA/PA. */
export interface ValueCount {
  value?: number;
  count?: number;
}

export interface DeviceId {
  serial?: string;
  model?: string;
  softwareRevision?: string;
}

export interface SelectionAudit {
  /** PA101, the selection (product) number as the machine writes it. */
  selection: string;
  /** PA102, the price. */
  price?: number;
  /** PA103, the product identifier. */
  productId?: string;
  /** PA201/PA202: paid vends of this selection since initialisation. */
  paid: ValueCount;
  /** PA203/PA204: since the last reset. */
  paidSinceReset: ValueCount;
}

export interface AuditEvent {
  /** The segment: EA1 (an event), EA2 (an event's counters), or another EA segment kept whole. */
  segment: string;
  /** EA101 / EA201: the event identification, e.g. "EGS" door open, "EJH" health-rule violation. */
  eventId?: string;
  /** EA102 / EA103: when it happened, as the machine wrote it (YYMMDD, HHMM[SS]). */
  date?: string;
  time?: string;
  /** EA202: how often since the last reset; EA203: since initialisation. */
  countSinceReset?: number;
  countSinceInit?: number;
  /** EA205: currently active ("1"). */
  active?: boolean;
  /** The segment's elements as written, for everything else. */
  fields: string[];
}

export interface UnknownSegment {
  /** 1-based line in the audit. */
  line: number;
  id: string;
  fields: string[];
}

export interface DexAudit {
  /** DXS: the sender's communication id, functional id, version. */
  header: { communicationId?: string; functionalId?: string; version?: string };
  /** ST02, the transaction set control number. */
  controlNumber?: string;
  /** ID1: machine serial (ID101), model (ID102), build (ID103), location (ID104), asset number (ID106). */
  machine: { serial?: string; model?: string; build?: string; location?: string; assetNumber?: string };
  /** ID401: decimal places of every amount in the audit. */
  decimalPlaces: number;
  /** ID403 (or ID402 mapped), ISO 4217. */
  currency: string;
  /** VA1 paid vends, VA2 test vends, VA3 free vends: since initialisation and since the last reset. */
  paidVends: ValueCount;
  paidVendsSinceReset: ValueCount;
  testVends: ValueCount;
  freeVends: ValueCount;
  /** CA1 changer id, CA2 cash sales, CA3 cash in, CA4 cash dispensed. */
  coinMech: DeviceId;
  cashSales: ValueCount;
  cashSalesSinceReset: ValueCount;
  /** CA305 coins in + CA308 bills in, since initialisation. */
  cashIn: { coins?: number; bills?: number; coinsSinceReset?: number; billsSinceReset?: number };
  cashDispensed: { sinceReset?: number; sinceInit?: number };
  /** BA1 bill validator id. */
  billValidator: DeviceId;
  /** DA1/DA2 cashless device 1, DB1/DB2 cashless device 2. */
  cashless: Array<{ device: 'DA' | 'DB'; id: DeviceId; sales: ValueCount; salesSinceReset: ValueCount }>;
  /** PA1 + PA2 per selection, in audit order. */
  selections: SelectionAudit[];
  /** EA* segments. */
  events: AuditEvent[];
  /** G85: the CRC written in the audit, and whether it matches the one computed. */
  g85: { written?: string; computed?: string; ok: boolean | null };
  /** SE01: the segment count written, and whether it matches the segments counted. */
  segmentCount: { written?: number; counted: number; ok: boolean | null };
  /** Segments vendgate does not read, kept as written and counted. */
  unknown: UnknownSegment[];
  /** How many unknown segments there were (the first 200 are kept). */
  unknownCount: number;
  /** What is wrong with this audit; empty for a good one. A flagged audit is never used as a good read. */
  problems: string[];
}
