import { ERROR_ENTRIES, ErrorGroups, RETIRED_CODES } from '../core/errors.ts';

/**
 * docs/errors.md, written by `npm run docs` from the catalogue in
 * core/errors.ts: every code with its name, HTTP status and meaning, one
 * table per numbered range.
 */
export function renderErrorsMarkdown(): string {
  const out: string[] = [
    '# Error codes',
    '',
    '<!-- Generated from core/errors.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every error vendgate reports carries one of these stable codes: in a log line, in the `code` of an',
    'MQTT event (`vend.failed`, `refund.requested`, `command.rejected`, `coupon.refused`, ...) and in an',
    'HTTP answer `{code, name, message}`, whose status is the one given here. A code never changes',
    'meaning; a retired number is never given to a new code.',
    '',
  ];
  for (const [key, group] of Object.entries(ErrorGroups)) {
    out.push(`## ${group.first}-${group.last} ${group.title}`, '');
    out.push('| Code | Name | HTTP | Meaning |', '| ---: | --- | ---: | --- |');
    for (const e of ERROR_ENTRIES.filter((entry) => entry.group === key)) {
      out.push(`| ${e.code} | \`${e.name}\` | ${e.status} | ${e.meaning.replaceAll('|', '\\|')} |`);
    }
    out.push('');
  }
  out.push('## Retired codes', '', '| Code | Was |', '| ---: | --- |');
  for (const [code, was] of Object.entries(RETIRED_CODES)) out.push(`| ${code} | ${was} |`);
  out.push('');
  return out.join('\n');
}
