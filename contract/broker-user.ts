/** A broker account on the contract's topic tree: credentials and the topic filters it may use. */
export interface BrokerUser {
  username: string;
  password: string;
  /** MQTT topic filters (with + and #) this user may publish to. */
  publish: string[];
  /** MQTT topic filters this user may subscribe to; a subscription must lie inside one of them. */
  subscribe: string[];
}
