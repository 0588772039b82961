/**
 * The control characters of the DEX/UCS link (EVA-DTS 6.x, part "DEX/UCS
 * communication protocol": ASCII control codes, the data link escape DLE
 * prefixing SOH/STX/ETB/ETX and the two alternating acknowledgements).
 */
export const SOH = 0x01;
export const STX = 0x02;
export const ETX = 0x03;
export const EOT = 0x04;
export const ENQ = 0x05;
export const DLE = 0x10;
export const NAK = 0x15;
export const ETB = 0x17;
/** DLE '0' and DLE '1': the two acknowledgements, alternating, the first after an ENQ is DLE '0'. */
export const ACK0 = 0x30;
export const ACK1 = 0x31;
/** DLE ';' (WACK): the receiver asks the sender to wait and ask again; vendgate answers it by waiting. */
export const WACK = 0x3b;

/** The operation request in the first handshake: 'R' the master reads the audit, 'S' it sends a configuration. */
export const OP_READ = 'R';

/**
 * What a handshake carries: the 10-character communication id (EVA-DTS
 * calls it the "communication ID", by convention the device's manufacturer
 * code and serial), and the 6-character revision/level, "R01L01" for the
 * revision 1 level 1 protocol this link speaks.
 */
export const COMM_ID_LENGTH = 10;
export const REVISION_LEVEL = 'R01L01';
