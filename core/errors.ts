/**
 * The error catalogue. Every error vendgate reports to a person or to the
 * platform carries one of these stable codes. Codes are grouped in numbered
 * ranges (the zwave-js convention) so a code says which layer it came from:
 *
 *   10xx config, 11xx command line   2xxx store   3xxx platform link / contract
 *   4xxx commands      5xxx order ledger  6xxx vending devices
 *   7xxx beacons/BLE   8xxx coupons       9xxx HTTP API / displays
 *   10xxx platform (payments, refunds, reconciliation, operator API)
 *   11xxx payment providers (110xx shared, 111xx WeChat Pay, 112xx Alipay)
 *   12xxx site features (120xx machine management, 121xx telemetry, 122xx alerts)
 *
 * Each code is declared once, below, with its name, the HTTP status the API
 * answers it with, and what it means; `npm run docs` writes docs/errors.md
 * from this table and core/errors.test.ts checks it. Codes never change
 * meaning once published; add new ones instead, and never reuse a number in
 * RETIRED_CODES.
 */

/** The HTTP statuses a catalogued error may be answered with (RFC 9110 section 15). */
export type HttpErrorStatus =
  | 400
  | 401
  | 404
  | 408
  | 409
  | 410
  | 413
  | 414
  | 421
  | 422
  | 431
  | 500
  | 502
  | 503
  | 504;

export interface ErrorSpec {
  readonly code: number;
  /**
   * The status the HTTP API answers with. 400 malformed input, 401 not
   * authenticated, 404 the named thing does not exist, 408 the request came too
   * slowly, 409 conflicts with the current state, 410 expired, 413 / 414 / 431
   * the body / URL / header section is too large (RFC 9110 section 15.5, RFC
   * 6585 section 5), 422 well-formed but against a business rule, 500 our own fault or configuration, 502 a device or the platform failed
   * or refused, 503 temporarily unavailable, 504 a device or the platform did
   * not answer in time.
   */
  readonly status: HttpErrorStatus;
  /** One line, for docs/errors.md and for operators reading a log. */
  readonly meaning: string;
}

export interface ErrorGroup {
  /** The heading of the range in docs/errors.md. */
  readonly title: string;
  /** The numbers this group's codes must lie in, inclusive. */
  readonly first: number;
  readonly last: number;
  readonly errors: Readonly<Record<string, ErrorSpec>>;
}

/** Keeps the literal types of the table (so `ErrorCode.ConfigInvalid` is `1001`, not `number`). */
function defineErrors<const T extends Record<string, ErrorGroup>>(groups: T): T {
  return groups;
}

export const ErrorGroups = defineErrors({
  config: {
    title: 'Configuration',
    first: 1000,
    last: 1099,
    errors: {
      ConfigInvalid: {
        code: 1001,
        status: 500,
        meaning: 'The configuration breaks its schema or names a secret that is not set.',
      },
      ConfigFileUnreadable: {
        code: 1002,
        status: 500,
        meaning: 'The configuration file does not exist or cannot be read.',
      },
      ConfigYamlSyntax: { code: 1003, status: 500, meaning: 'The configuration file is not valid YAML.' },
    },
  },
  cli: {
    title: 'Command line',
    first: 1100,
    last: 1199,
    errors: {
      CliPathUnusable: {
        code: 1101,
        status: 500,
        meaning:
          'A path given to a command is unusable: a file where a directory belongs, no permission, read-only.',
      },
      CliConnectionFailed: {
        code: 1102,
        status: 502,
        meaning:
          'A command could not reach what it talks to (connection refused, no such socket, timed out).',
      },
    },
  },
  store: {
    title: 'Store (SQLite)',
    first: 2000,
    last: 2999,
    errors: {
      StoreOpenFailed: { code: 2001, status: 500, meaning: 'The SQLite store cannot be opened.' },
      StoreMigrationFailed: { code: 2002, status: 500, meaning: 'A schema migration of the store failed.' },
      StoreSchemaTooNew: {
        code: 2003,
        status: 500,
        meaning: 'The store was written by a newer vendgate than this one; upgrade vendgate.',
      },
      StoreNotInTransaction: {
        code: 2004,
        status: 500,
        meaning:
          "A write that must share the caller's transaction was called outside one (a programming error).",
      },
      StoreLowOnSpace: {
        code: 2005,
        status: 503,
        meaning:
          'Free space on the data directory is below store.reserveBytes: a new order is not recorded; send it later.',
      },
      StoreNotADatabase: {
        code: 2006,
        status: 500,
        meaning:
          'The store file is not a readable SQLite database (a damaged header or image): restore a backup.',
      },
      StoreReadOnly: {
        code: 2007,
        status: 500,
        meaning:
          'The store file or its directory cannot be written by the gateway (permissions, a read-only mount).',
      },
      StoreUntrusted: {
        code: 2008,
        status: 503,
        meaning:
          'The store is damaged, emptied or went backwards: safe mode until the operator restores or accepts it.',
      },
      StoreTransitionInvalid: {
        code: 2009,
        status: 409,
        meaning:
          'A state change the platform store does not allow (e.g. an order from refunded back to paid).',
      },
      StoreUnavailable: {
        code: 2010,
        status: 503,
        meaning: 'The platform database (PostgreSQL) cannot be reached or refused a query.',
      },
    },
  },
  link: {
    title: 'Platform link and MQTT contract',
    first: 3000,
    last: 3999,
    errors: {
      PayloadNotJson: { code: 3001, status: 400, meaning: 'A message payload is not JSON.' },
      PayloadInvalid: {
        code: 3002,
        status: 400,
        meaning: 'A message payload is JSON but breaks its contract schema.',
      },
      PayloadTooLarge: {
        code: 3003,
        status: 413,
        meaning: 'A message payload is larger than the contract allows.',
      },
      AckInvalid: { code: 3004, status: 400, meaning: "The platform's acknowledgement is not a valid ack." },
      OutboxFull: {
        code: 3005,
        status: 503,
        meaning: 'The outbox is full of undelivered critical events; nothing new is queued until it drains.',
      },
      BrokerUnreachable: {
        code: 3006,
        status: 503,
        meaning: 'The MQTT broker cannot be reached or listened on, or the link was stopped.',
      },
      RequestTimeout: {
        code: 3007,
        status: 504,
        meaning: 'The platform did not answer a request in time.',
      },
      RequestRefused: { code: 3008, status: 502, meaning: 'The platform answered a request with a refusal.' },
      PlatformMessageUnsigned: {
        code: 3020,
        status: 401,
        meaning: 'An ack or a response from the platform arrived without a signature; nothing was changed.',
      },
      PlatformSignatureInvalid: {
        code: 3021,
        status: 401,
        meaning:
          "An ack's or a response's signature does not verify, or names an unknown or mismatched platform key.",
      },
      PlatformMessageExpired: {
        code: 3022,
        status: 410,
        meaning: 'An ack or a response arrived at or after its expiresAt (no clock skew is allowed on it).',
      },
      PlatformMessageNotYetValid: {
        code: 3023,
        status: 400,
        meaning: 'An ack or a response was issued further in the future than the allowed clock skew.',
      },
      PlatformMessageMisaddressed: {
        code: 3024,
        status: 421,
        meaning: 'An ack or a response names another gateway, or a response answers another request.',
      },
      AckBeyondPublished: {
        code: 3025,
        status: 409,
        meaning:
          'A signed ack covers events this gateway never published: a forgery, or a store that went backwards. Nothing is deleted.',
      },
      EventSignatureInvalid: {
        code: 3026,
        status: 401,
        meaning: 'An event, request or status from a gateway is unsigned or its signature does not verify.',
      },
      GatewayKeyInvalid: {
        code: 3027,
        status: 500,
        meaning: "The gateway's own signing key file or configured seed cannot be read or is malformed.",
      },
      GatewayIdInvalid: {
        code: 3028,
        status: 400,
        meaning: 'A topic names a gateway id that is not 1-64 letters, digits, _ or -.',
      },
    },
  },
  commands: {
    title: 'Platform commands',
    first: 4000,
    last: 4999,
    errors: {
      CommandUnsigned: { code: 4001, status: 401, meaning: 'A command arrived without a signature.' },
      CommandSignatureInvalid: {
        code: 4002,
        status: 401,
        meaning: "A command's signature does not verify, or names an unknown key.",
      },
      CommandExpired: { code: 4003, status: 410, meaning: 'A command arrived after it expired.' },
      CommandNotYetValid: {
        code: 4004,
        status: 400,
        meaning: 'A command was issued in the future, beyond the allowed clock skew.',
      },
      CommandReplayed: {
        code: 4005,
        status: 409,
        meaning: 'A command (or its nonce) was already received; it is not executed twice.',
      },
      CommandMisaddressed: { code: 4006, status: 421, meaning: 'A command is addressed to another gateway.' },
      CommandUnknownType: {
        code: 4007,
        status: 400,
        meaning: 'A command has a type this gateway does not know.',
      },
      CommandBodyInvalid: { code: 4008, status: 400, meaning: "A signed command's body breaks its schema." },
    },
  },
  orders: {
    title: 'Order ledger',
    first: 5000,
    last: 5099,
    errors: {
      OrderUnknownMachine: {
        code: 5001,
        status: 422,
        meaning: 'A paid order names a machine that is not on this gateway; it is refunded.',
      },
      OrderUnknownSlot: {
        code: 5002,
        status: 422,
        meaning: 'A paid order names a slot the machine does not have; it is refunded.',
      },
      OrderExpired: {
        code: 5003,
        status: 410,
        meaning: 'A paid order expired before it could be dispensed; it is refunded.',
      },
      OrderAmountInvalid: {
        code: 5004,
        status: 422,
        meaning: "A paid order's amount is not the slot's price; it is refunded.",
      },
      OrderUnresolved: {
        code: 5006,
        status: 502,
        meaning: 'The machine never told whether a vend happened; the order waits for reconciliation.',
      },
      OrderNotFound: { code: 5007, status: 404, meaning: 'No order has this id.' },
    },
  },
  cashlessSessions: {
    title: 'Cashless sessions (select then pay)',
    first: 5100,
    last: 5199,
    errors: {
      CashlessSessionClosed: {
        code: 5101,
        status: 409,
        meaning: 'A cashless session was closed (the gateway restarted or it timed out) before it was paid.',
      },
      CashlessOrderNotCreated: {
        code: 5102,
        status: 502,
        meaning: 'The platform did not create an order for a cashless session; the vend is denied.',
      },
    },
  },
  payFirst: {
    title: 'Pay first, then choose (MDB sessions with funds)',
    first: 5200,
    last: 5299,
    errors: {
      PayFirstCreditUnspent: {
        code: 5201,
        status: 409,
        meaning: 'Pay first: the credit, or the part of it the vend did not use, is refunded.',
      },
      PayFirstSessionEnded: {
        code: 5202,
        status: 409,
        meaning:
          'Pay first: the session ended without a vend (cancelled, timed out, restart); the credit is refunded.',
      },
      PayFirstNotStarted: {
        code: 5203,
        status: 503,
        meaning:
          'Pay first: the machine could not begin a session (offline, busy, refused); the credit is refunded.',
      },
      PayFirstCreditInvalid: {
        code: 5204,
        status: 422,
        meaning:
          'Pay first: no such pay-first machine, another currency, or expired; the credit is refunded.',
      },
      PayFirstAboveCredit: {
        code: 5205,
        status: 422,
        meaning:
          'Pay first: the selection costs more than the credit; it is denied and the customer may choose again.',
      },
    },
  },
  devices: {
    title: 'Vending devices',
    first: 6000,
    last: 6099,
    errors: {
      DeviceTimeout: { code: 6001, status: 504, meaning: 'A device did not answer in time.' },
      DeviceOffline: { code: 6002, status: 503, meaning: 'A device is offline or its port is closed.' },
      DeviceProtocol: {
        code: 6003,
        status: 502,
        meaning: 'A request to a device or its reply broke the device protocol (a field out of range).',
      },
      DeviceFrameInvalid: {
        code: 6004,
        status: 502,
        meaning: 'A frame from a device is malformed (length, checksum or payload).',
      },
      DeviceBusy: { code: 6006, status: 409, meaning: 'A device is busy with another request.' },
      DeviceRestarted: {
        code: 6007,
        status: 502,
        meaning:
          'A device restarted (its boot identity changed) while a request was in flight; what it did with the request is not known.',
      },
    },
  },
  vend: {
    title: 'Vend outcomes reported by a machine',
    first: 6100,
    last: 6199,
    errors: {
      VendJammed: { code: 6101, status: 502, meaning: 'The machine reported the slot jammed.' },
      VendEmptySlot: { code: 6102, status: 502, meaning: 'The machine reported the slot empty.' },
      VendDropSensorMiss: {
        code: 6103,
        status: 502,
        meaning: 'The motor ran but the drop sensor saw no product fall.',
      },
      VendMotorFault: { code: 6104, status: 502, meaning: 'The machine reported a motor fault.' },
      VendUnknownSlot: { code: 6105, status: 502, meaning: 'The machine does not know the slot.' },
      VendFailed: {
        code: 6106,
        status: 502,
        meaning: 'The machine reported a vend failure of another kind.',
      },
    },
  },
  cashlessAdapter: {
    title: 'MDB cashless adapter',
    first: 6200,
    last: 6299,
    errors: {
      CashlessPriceInvalid: {
        code: 6201,
        status: 400,
        meaning: 'An approved amount is not an integer between 0 and the requested price.',
      },
      CashlessSessionUnknown: { code: 6202, status: 404, meaning: 'No cashless session has this id.' },
      CashlessSessionBusy: {
        code: 6203,
        status: 409,
        meaning: 'A cashless session is already approved, denied or ended.',
      },
      CashlessCommandRefused: { code: 6204, status: 502, meaning: 'The cashless adapter refused a command.' },
      CashlessAdapterError: { code: 6205, status: 502, meaning: 'The cashless adapter reported an error.' },
    },
  },
  dex: {
    title: 'DEX/UCS audit readout',
    first: 6300,
    last: 6399,
    errors: {
      DexCrcMismatch: {
        code: 6301,
        status: 502,
        meaning: 'A DEX/UCS block kept failing its CRC-16 after the allowed retransmissions.',
      },
      DexNoAnswer: {
        code: 6302,
        status: 504,
        meaning: 'The machine did not answer or acknowledge the DEX/UCS handshake in time.',
      },
      DexStalled: {
        code: 6303,
        status: 504,
        meaning: 'The machine stopped sending in the middle of a DEX/UCS transfer.',
      },
      DexTooLarge: {
        code: 6304,
        status: 502,
        meaning: 'A DEX/UCS block or the whole audit is larger than the configured bound.',
      },
      DexProtocol: {
        code: 6305,
        status: 502,
        meaning:
          'The machine broke the DEX/UCS link protocol (an unexpected byte, a refusal or a malformed handshake).',
      },
      DexAuditInvalid: {
        code: 6306,
        status: 422,
        meaning:
          'The audit text is not EVA-DTS (no DXS/ST header, binary bytes, or beyond the parser bounds).',
      },
      DexMachineUnknown: {
        code: 6307,
        status: 404,
        meaning: 'No configured machine with this id has a DEX port.',
      },
      DexPortUnavailable: {
        code: 6308,
        status: 503,
        meaning: "The machine's DEX port could not be opened.",
      },
    },
  },
  beacons: {
    title: 'Beacons and BLE',
    first: 7000,
    last: 7999,
    errors: {
      BleUnavailable: {
        code: 7001,
        status: 503,
        meaning: 'Bluetooth is not usable here (no adapter, no permission, or the library failed to load).',
      },
      BeaconNotABeacon: { code: 7002, status: 400, meaning: 'An advertisement is not a beacon frame.' },
      BeaconTruncated: {
        code: 7003,
        status: 400,
        meaning: 'A beacon frame is shorter than its format requires.',
      },
      BeaconMalformed: { code: 7004, status: 400, meaning: 'A beacon frame has an invalid field or layout.' },
      BeaconUnsupported: {
        code: 7005,
        status: 400,
        meaning: 'A beacon frame is of a format vendgate does not read.',
      },
      BeaconHexInvalid: {
        code: 7006,
        status: 400,
        meaning: 'A hex string given as an advertisement is not valid hex.',
      },
      BeaconFieldInvalid: {
        code: 7007,
        status: 400,
        meaning: 'A field given to encode a beacon frame is out of range.',
      },
    },
  },
  coupons: {
    title: 'Coupons',
    first: 8000,
    last: 8999,
    errors: {
      CouponBudgetExhausted: {
        code: 8001,
        status: 409,
        meaning: 'The campaign has issued all the coupons it may.',
      },
      CouponUserCapReached: {
        code: 8002,
        status: 409,
        meaning: 'This user already has as many coupons of the campaign as it allows.',
      },
      CouponBeaconUnknown: {
        code: 8003,
        status: 404,
        meaning: "The beacon of a claim is not one of this site's.",
      },
      CouponBeaconStale: {
        code: 8004,
        status: 422,
        meaning: 'The beacon id of a claim was not current when seen (stale or suspected cloned).',
      },
      CouponOutsideWindow: {
        code: 8005,
        status: 422,
        meaning: 'A claim came outside the hours the campaign runs.',
      },
      CouponAlreadyRedeemed: { code: 8006, status: 409, meaning: 'The coupon was already redeemed.' },
      CouponCampaignNotActive: {
        code: 8007,
        status: 409,
        meaning: 'The campaign has not started or has ended.',
      },
      CouponCampaignUnknown: { code: 8008, status: 404, meaning: 'No campaign has this id.' },
      CouponUnknown: {
        code: 8009,
        status: 404,
        meaning: 'No coupon has this code, or coupons are not enabled.',
      },
      CouponExpired: { code: 8010, status: 410, meaning: 'The coupon expired.' },
      CouponMinSpendNotMet: {
        code: 8011,
        status: 422,
        meaning: "The price is below the coupon's minimum spend.",
      },
      CouponCurrencyMismatch: {
        code: 8012,
        status: 422,
        meaning: "A price or budget is in another currency than the campaign's.",
      },
      CouponMachineNotInScope: {
        code: 8013,
        status: 422,
        meaning: 'The coupon is not valid at this machine.',
      },
      CouponAmountInvalid: {
        code: 8014,
        status: 422,
        meaning: 'A paid amount is not the list price less the coupon; the order is refunded.',
      },
      CouponPriceUnknown: {
        code: 8015,
        status: 422,
        meaning: 'The slot has no configured price to apply a coupon to.',
      },
      CouponMoneyBudgetExhausted: {
        code: 8016,
        status: 409,
        meaning: "Another coupon would exceed the campaign's money budget.",
      },
      CouponClaimStale: {
        code: 8017,
        status: 422,
        meaning: 'A shake was seen too long ago (or too far in the future) to be claimed.',
      },
      CouponCampaignInvalid: { code: 8018, status: 400, meaning: 'A campaign definition breaks its schema.' },
    },
  },
  http: {
    title: 'HTTP API',
    first: 9000,
    last: 9099,
    errors: {
      HttpBadRequest: {
        code: 9001,
        status: 400,
        meaning: 'An HTTP request is malformed or fails its route schema.',
      },
      HttpNotFound: { code: 9002, status: 404, meaning: 'No route, or nothing at this address.' },
      HttpInternal: {
        code: 9003,
        status: 500,
        meaning: 'An unexpected fault inside the gateway; the details are in its log, not in the answer.',
      },
      HttpUnauthorized: {
        code: 9004,
        status: 401,
        meaning: 'The API needs the operator token (http.token) and the request had none or a wrong one.',
      },
      HttpBodyTooLarge: {
        code: 9005,
        status: 413,
        meaning: 'A request body is larger than the API accepts.',
      },
      HttpUriTooLong: {
        code: 9006,
        status: 414,
        meaning: 'A request URL, or one of its path parameters, is longer than the API accepts.',
      },
      HttpHeadersTooLarge: {
        code: 9007,
        status: 431,
        meaning: "A request's header section (request line included) is larger than the API accepts.",
      },
      HttpRequestTimeout: {
        code: 9008,
        status: 408,
        meaning: 'A client did not send its request headers or body in time; the connection is closed.',
      },
      HttpListenFailed: {
        code: 9009,
        status: 500,
        meaning: 'The HTTP API cannot listen on its configured address (in use, or not permitted).',
      },
    },
  },
  displays: {
    title: 'Payment displays',
    first: 9100,
    last: 9199,
    errors: {
      DisplayScreenInvalid: {
        code: 9101,
        status: 400,
        meaning: 'A screen sent to a display breaks its schema.',
      },
      DisplayCommandInvalid: {
        code: 9102,
        status: 400,
        meaning: 'A display refused a command it could not parse.',
      },
      DisplayQrInvalid: {
        code: 9103,
        status: 400,
        meaning: 'A text or URL cannot be encoded as the QR code asked for.',
      },
    },
  },
  providers: {
    title: 'Payment providers (shared)',
    first: 11000,
    last: 11099,
    errors: {
      ProviderUnavailable: {
        code: 11001,
        status: 502,
        meaning: 'The payment provider could not be reached or answered 5xx; retry.',
      },
      ProviderTimeout: {
        code: 11002,
        status: 504,
        meaning: 'The payment provider did not answer in time; retry.',
      },
      ProviderResponseTooLarge: {
        code: 11003,
        status: 502,
        meaning: 'A provider response exceeded the size bound and was not read.',
      },
      ProviderResponseInvalid: {
        code: 11004,
        status: 502,
        meaning: 'A provider response did not have the documented shape.',
      },
      ProviderRefused: {
        code: 11005,
        status: 502,
        meaning: 'The provider refused the request with a business error (final).',
      },
      ProviderConfigInvalid: {
        code: 11006,
        status: 500,
        meaning: 'A provider section of the configuration is invalid or a key cannot be read.',
      },
      ProviderAmountInvalid: {
        code: 11007,
        status: 422,
        meaning: 'An amount cannot be converted exactly between minor units and the provider format.',
      },
      ProviderBillInvalid: {
        code: 11008,
        status: 502,
        meaning: 'A provider bill has an unknown row, a bad layout or a wrong checksum.',
      },
    },
  },
  wechatpay: {
    title: 'WeChat Pay',
    first: 11100,
    last: 11199,
    errors: {
      WechatSignatureInvalid: {
        code: 11101,
        status: 401,
        meaning: 'A WeChat Pay response or notification signature does not verify.',
      },
      WechatUnknownSerial: {
        code: 11102,
        status: 401,
        meaning: 'A WeChat Pay message names a platform key serial that is not configured.',
      },
      WechatTimestampStale: {
        code: 11103,
        status: 401,
        meaning: 'A WeChat Pay message timestamp is more than 5 minutes from now.',
      },
      WechatBillHashMismatch: {
        code: 11104,
        status: 502,
        meaning: 'A downloaded WeChat Pay bill does not match its announced hash.',
      },
      WechatCurrencyUnsupported: {
        code: 11105,
        status: 422,
        meaning: 'The currency is not supported in this WeChat Pay mode.',
      },
    },
  },
  alipay: {
    title: 'Alipay',
    first: 11200,
    last: 11299,
    errors: {
      AlipayConfigInvalid: {
        code: 11201,
        status: 500,
        meaning: 'The Alipay section of the configuration is invalid or a key cannot be read.',
      },
      AlipayTimeout: { code: 11202, status: 504, meaning: 'Alipay did not answer in time; retry.' },
      AlipayUnavailable: {
        code: 11203,
        status: 502,
        meaning: 'Alipay could not be reached, answered 5xx or asked to retry later.',
      },
      AlipayHttpRejected: {
        code: 11204,
        status: 502,
        meaning: 'Alipay answered a non-2xx HTTP status that is not a retryable fault.',
      },
      AlipayResponseInvalid: {
        code: 11205,
        status: 502,
        meaning: 'An Alipay response did not have the documented shape.',
      },
      AlipayResponseSignatureInvalid: {
        code: 11206,
        status: 502,
        meaning: 'An Alipay response signature does not verify with the Alipay public key.',
      },
      AlipayBusinessError: {
        code: 11207,
        status: 502,
        meaning: 'Alipay refused the request with a business error (sub_code in the context).',
      },
      AlipayAmountInvalid: {
        code: 11208,
        status: 422,
        meaning: 'An amount cannot be converted exactly to or from an Alipay yuan string.',
      },
      AlipayBillUnavailable: {
        code: 11209,
        status: 503,
        meaning: 'The Alipay bill for that day is not available yet.',
      },
      AlipayBillInvalid: {
        code: 11210,
        status: 502,
        meaning: 'An Alipay bill has a bad zip, an unknown row or totals that do not match its rows.',
      },
      AlipayResponseTooLarge: {
        code: 11211,
        status: 502,
        meaning: 'An Alipay response or bill exceeded the size bound and was not read.',
      },
      AlipayInputInvalid: {
        code: 11212,
        status: 400,
        meaning: 'A value given to the Alipay adapter breaks the API limits (length, characters).',
      },
    },
  },
  platform: {
    title: 'Platform payments',
    first: 10000,
    last: 10999,
    errors: {
      PlatformOrderUnknown: {
        code: 10001,
        status: 404,
        meaning: 'No platform order has that out_trade_no.',
      },
      PlatformMachineUnknown: {
        code: 10002,
        status: 404,
        meaning: 'The catalogue has no such gateway and machine, or no such product on it.',
      },
      PlatformProviderUnavailable: {
        code: 10003,
        status: 422,
        meaning: 'The payment provider asked for is not configured on this platform.',
      },
      PlatformOrderState: {
        code: 10004,
        status: 409,
        meaning:
          'The order is not in a state that allows this (e.g. resolving an order that is not unresolved).',
      },
      PlatformOrderCreateRefused: {
        code: 10005,
        status: 422,
        meaning:
          'A gateway order.create was refused: unknown machine, price or currency not payable, deadline past.',
      },
      PlatformConfigInvalid: {
        code: 10006,
        status: 500,
        meaning: 'The platform payments configuration breaks its schema.',
      },
      PlatformReportUnknown: {
        code: 10007,
        status: 404,
        meaning: 'No reconciliation report exists for that day.',
      },
      PlatformUnauthorized: {
        code: 10008,
        status: 401,
        meaning: 'The operator API needs a valid bearer token.',
      },
    },
  },
  alerts: {
    title: 'Alerts',
    first: 12200,
    last: 12299,
    errors: {
      AlertWebhookRefused: {
        code: 12201,
        status: 502,
        meaning: 'An alert webhook answered a 4xx (not 408/429) or a redirect: that alert is not retried.',
      },
      AlertWebhookFailed: {
        code: 12202,
        status: 502,
        meaning:
          'An alert webhook answered 5xx, 408 or 429, or could not be reached: the alert is retried with backoff.',
      },
      AlertWebhookTimeout: {
        code: 12203,
        status: 504,
        meaning: 'An alert webhook did not answer within its timeoutMs: the alert is retried with backoff.',
      },
      AlertPublishFailed: {
        code: 12204,
        status: 503,
        meaning:
          'An alert could not be published on the platform link (not connected, or the broker refused it): it stays queued.',
      },
    },
  },
  telemetry: {
    title: 'Telemetry (machine sensors, sensed stock, board reset, sales)',
    first: 12100,
    last: 12199,
    errors: {
      TelemetryUnsupported: {
        code: 12101,
        status: 422,
        meaning:
          'The machine controller cannot do this: its protocol has no sensed stock or reset (VSB before 3).',
      },
      TelemetryResetTimeout: {
        code: 12102,
        status: 504,
        meaning:
          'The controller acknowledged a reset but did not come back with a new boot identity in time.',
      },
    },
  },
  management: {
    title: 'Machine management (catalogue, stock, remote commands)',
    first: 12000,
    last: 12099,
    errors: {
      ManagementMachineUnknown: {
        code: 12001,
        status: 404,
        meaning: 'A management command or request names a machine that is not on this gateway.',
      },
      ManagementSlotUnknown: {
        code: 12002,
        status: 422,
        meaning: 'A management command names a slot the machine does not have (slots come from the config).',
      },
      ManagementPriceInvalid: {
        code: 12003,
        status: 422,
        meaning:
          'A price change is negative, fractional, above the configured maximum, or in another currency than the machine.',
      },
      ManagementChangeInvalid: {
        code: 12004,
        status: 422,
        meaning:
          'A catalogue change breaks a rule: no slot, a slot twice, a low-stock mark not below capacity.',
      },
      ManagementRefillInvalid: {
        code: 12005,
        status: 422,
        meaning:
          'A refill names more than the slot holds, a negative or fractional level, or a slot with no capacity and no level.',
      },
      ManagementBusy: {
        code: 12006,
        status: 503,
        meaning:
          'A vend stayed in flight on the machine for longer than a management command may wait, or too many commands wait for it.',
      },
      ManagementUnsupported: {
        code: 12007,
        status: 422,
        meaning: "The machine's driver cannot do this (e.g. a board reset), or it is a cashless machine.",
      },
      ManagementDeviceFailed: {
        code: 12008,
        status: 502,
        meaning: 'The machine failed or did not answer a test vend or a board reset.',
      },
      SlotDisabled: {
        code: 12009,
        status: 422,
        meaning: 'A paid order names a slot the operator disabled; it is refunded.',
      },
    },
  },
});

/**
 * Numbers that were published and then removed. They are never given to a new
 * code, so an old log line or event cannot be misread.
 */
export const RETIRED_CODES: Readonly<Record<number, string>> = {
  5005: 'OrderConflict: declared in the first catalogue, never raised',
  6005: 'DeviceBufferOverflow: declared in the first catalogue, never raised',
};

type Groups = typeof ErrorGroups;
type GroupErrors = { [G in keyof Groups]: Groups[G]['errors'] }[keyof Groups];
// Turns the union of the groups' tables into one table with every name.
type Merged<U> = (U extends unknown ? (u: U) => void : never) extends (m: infer M) => void ? M : never;
type AllErrors = Merged<GroupErrors>;

export type ErrorCodeName = keyof AllErrors & string;
export const ErrorCode = Object.fromEntries(
  Object.values(ErrorGroups).flatMap((g) =>
    Object.entries(g.errors).map(([name, spec]) => [name, spec.code]),
  ),
) as { readonly [N in ErrorCodeName]: AllErrors[N]['code'] };
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

/** One catalogue entry with its name and range. */
export interface ErrorEntry extends ErrorSpec {
  readonly name: ErrorCodeName;
  readonly group: keyof Groups;
}

/** Every entry in declaration order (a name declared twice would appear twice: core/errors.test.ts fails then). */
export const ERROR_ENTRIES: readonly ErrorEntry[] = Object.entries(ErrorGroups).flatMap(([group, g]) =>
  Object.entries(g.errors).map(
    ([name, spec]): ErrorEntry => ({ ...spec, name: name as ErrorCodeName, group: group as keyof Groups }),
  ),
);

const entryByCode = new Map<number, ErrorEntry>(ERROR_ENTRIES.map((e) => [e.code, e]));

export function errorCodeName(code: number): ErrorCodeName | undefined {
  return entryByCode.get(code)?.name;
}

/** The catalogue entry of a code: its name, HTTP status and meaning. */
export function errorSpec(code: number): ErrorEntry | undefined {
  return entryByCode.get(code);
}

/** An error with a stable catalogue code and structured context. */
export class VendgateError extends Error {
  readonly code: ErrorCodeValue;
  readonly codeName: ErrorCodeName;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCodeValue,
    message: string,
    context: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'VendgateError';
    this.code = code;
    this.codeName = errorCodeName(code) ?? 'HttpBadRequest';
    this.context = context;
  }

  toJSON(): { code: number; name: string; message: string; context: Readonly<Record<string, unknown>> } {
    return { code: this.code, name: this.codeName, message: this.message, context: this.context };
  }
}

export function isVendgateError(err: unknown, code?: ErrorCodeValue): err is VendgateError {
  return err instanceof VendgateError && (code === undefined || err.code === code);
}
