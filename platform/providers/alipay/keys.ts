/**
 * Key material as operators get it from Alipay: a PEM file, or the bare
 * base64 DER that Alipay's key tool and the open platform console print
 * (PKCS#8 for the app private key, SPKI for Alipay's public key), inline
 * or in a file. RSA2 requires RSA keys of at least 2048 bits
 * (opendocs.alipay.com/common/02kipl, 生成密钥). Errors name the field,
 * never the material.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';

const BARE_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function materialText(material: string, field: string): string {
  const trimmed = material.trim();
  if (trimmed.includes('-----BEGIN')) return trimmed;
  const compact = trimmed.replace(/\s+/g, '');
  if (compact.length >= 100 && BARE_BASE64.test(compact)) return compact;
  try {
    return readFileSync(trimmed, 'utf8').trim();
  } catch {
    throw new VendgateError(
      ErrorCode.AlipayConfigInvalid,
      `${field}: neither PEM, base64 DER nor a readable file path`,
      { field },
    );
  }
}

function invalid(field: string, why: string): VendgateError {
  return new VendgateError(ErrorCode.AlipayConfigInvalid, `${field}: ${why}`, { field });
}

function checkRsa2(key: KeyObject, field: string): KeyObject {
  if (key.asymmetricKeyType !== 'rsa')
    throw invalid(field, `an RSA key is required, got ${key.asymmetricKeyType}`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw invalid(field, `RSA2 needs at least 2048 bits, the key has ${bits}`);
  return key;
}

export function loadPrivateKey(material: string, field: string): KeyObject {
  const text = materialText(material, field);
  let key: KeyObject;
  try {
    key = text.includes('-----BEGIN')
      ? createPrivateKey(text)
      : createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    try {
      // Older Alipay tools print PKCS#1 ("RSA PRIVATE KEY") bodies without the header.
      key = createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs1' });
    } catch {
      throw invalid(field, 'not a readable RSA private key (PEM, PKCS#8 or PKCS#1 base64 DER)');
    }
  }
  return checkRsa2(key, field);
}

export function loadPublicKey(material: string, field: string): KeyObject {
  const text = materialText(material, field);
  // createPublicKey would derive a public key from a private one: a swapped key must fail here, loudly.
  if (text.includes('PRIVATE KEY')) throw invalid(field, 'a public key is required, this is a private key');
  let key: KeyObject;
  try {
    key = text.includes('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw invalid(field, 'not a readable RSA public key (PEM or SPKI base64 DER)');
  }
  if (key.type !== 'public') throw invalid(field, 'a public key is required');
  return checkRsa2(key, field);
}
