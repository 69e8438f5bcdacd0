// Conformance of the local Neon SQL-over-HTTP server with the official driver,
// @neondatabase/serverless 1.2.0: everything goes through the real neon() client.
//
// Needs a running `devstack serve` and:
//   NEON_ENDPOINT  the server's SQL URL, e.g. http://127.0.0.1:4444/sql
//   DATABASE_URL   a connection string it accepts, e.g. postgresql://postgres:postgres@localhost:5432/db
// Run: node --test tests/neon-driver/conformance.test.mjs
// Tables get a random suffix and are dropped at the end, so runs can repeat on one database.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { neon, neonConfig, NeonDbError } from '@neondatabase/serverless';

const { NEON_ENDPOINT, DATABASE_URL } = process.env;
if (!NEON_ENDPOINT || !DATABASE_URL) {
  throw new Error(
    'conformance.test.mjs needs NEON_ENDPOINT (e.g. http://127.0.0.1:4444/sql, from `devstack serve`) ' +
      'and DATABASE_URL (e.g. postgresql://postgres:postgres@localhost:5432/db) in the environment',
  );
}

// The only setting the driver needs for a local server: its default derives an https URL from the host.
neonConfig.fetchEndpoint = NEON_ENDPOINT;
const sql = neon(DATABASE_URL);

const suffix = randomBytes(4).toString('hex');
const people = `conf_people_${suffix}`;
const notes = `conf_notes_${suffix}`;

before(async () => {
  await sql.query(`CREATE TABLE ${people} (id serial PRIMARY KEY, email text NOT NULL UNIQUE, age int4)`);
  await sql.query(`CREATE TABLE ${notes} (id serial PRIMARY KEY, body text NOT NULL)`);
});

after(async () => {
  await sql.query(`DROP TABLE IF EXISTS ${people}, ${notes}`);
});

test('tagged templates round-trip typed values', async () => {
  const when = new Date('2024-05-06T07:08:09.123Z');
  const uuid = randomUUID();
  const bytes = Buffer.from([0, 1, 2, 254, 255]);
  const doc = { k: [1, 'two', null], nested: { ok: true } };
  const rows = await sql`
    SELECT ${42}::int4 AS i4, ${'9007199254740993'}::int8 AS i8, ${'12.50'}::numeric AS num,
           ${1.5}::float8 AS f8, ${true}::bool AS yes, ${false}::bool AS no, ${'héllo "x"'}::text AS txt,
           ${doc}::jsonb AS doc, ${when}::timestamptz AS ts, ${uuid}::uuid AS id, ${bytes} AS raw,
           ${['a', 'b"c', null]}::text[] AS words, ${[1, 2, 3]}::int4[] AS nums,
           ${null}::text AS nothing, ${undefined}::int4 AS undef`;
  assert.equal(rows.length, 1);
  const r = rows[0];
  assert.equal(r.i4, 42);
  assert.equal(r.i8, '9007199254740993', 'int8 stays a string');
  assert.equal(r.num, '12.50', 'numeric stays a string with its scale');
  assert.equal(r.f8, 1.5);
  assert.equal(r.yes, true);
  assert.equal(r.no, false);
  assert.equal(r.txt, 'héllo "x"');
  assert.deepEqual(r.doc, doc);
  assert.ok(r.ts instanceof Date, 'timestamptz parses to a Date');
  assert.equal(r.ts.getTime(), when.getTime());
  assert.equal(r.id, uuid);
  assert.ok(Buffer.isBuffer(r.raw), 'bytea parses to a Buffer');
  assert.deepEqual([...r.raw], [...bytes]);
  assert.deepEqual(r.words, ['a', 'b"c', null]);
  assert.deepEqual(r.nums, [1, 2, 3]);
  assert.equal(r.nothing, null);
  assert.equal(r.undef, null);
});

test('rows written with parameters read back through a table', async () => {
  const email = `a_${suffix}@example.com`;
  const inserted = await sql`INSERT INTO ${sql.unsafe(people)} (email, age) VALUES (${email}, ${37}) RETURNING id, email, age`;
  assert.equal(inserted.length, 1);
  assert.equal(typeof inserted[0].id, 'number');
  const found = await sql`SELECT email, age FROM ${sql.unsafe(people)} WHERE id = ${inserted[0].id}`;
  assert.deepEqual(found, [{ email, age: 37 }]);
  const none = await sql`SELECT email FROM ${sql.unsafe(people)} WHERE id = ${-1}`;
  assert.deepEqual(none, []);
});

test('sql.query with fullResults exposes fields, command and rowCount', async () => {
  const ins = await sql.query(`INSERT INTO ${notes} (body) VALUES ($1), ($2) RETURNING id, body`, ['one', 'two'], {
    fullResults: true,
  });
  assert.equal(ins.command, 'INSERT');
  assert.equal(ins.rowCount, 2);
  assert.deepEqual(
    ins.fields.map((f) => [f.name, f.dataTypeID]),
    [['id', 23], ['body', 25]],
  );
  assert.ok(ins.fields[0].tableID > 0, 'table columns carry their table OID');
  assert.equal(ins.fields[0].columnID, 1);
  assert.equal(ins.fields[1].format, 'text');
  assert.deepEqual(ins.rows.map((r) => r.body), ['one', 'two']);

  const sel = await sql.query(`SELECT body FROM ${notes} WHERE body = ANY($1) ORDER BY body`, [['one', 'two']], {
    fullResults: true,
    arrayMode: true,
  });
  assert.equal(sel.command, 'SELECT');
  assert.equal(sel.rowCount, 2);
  assert.equal(sel.rowAsArray, true);
  assert.deepEqual(sel.rows, [['one'], ['two']]);

  const upd = await sql.query(`UPDATE ${notes} SET body = body || '!' WHERE body = $1`, ['one'], { fullResults: true });
  assert.equal(upd.command, 'UPDATE');
  assert.equal(upd.rowCount, 1);
  assert.deepEqual(upd.fields, []);
  assert.deepEqual(upd.rows, []);
});

test('transaction commits all statements', async () => {
  const email = `tx_${suffix}@example.com`;
  const [ins, count] = await sql.transaction([
    sql`INSERT INTO ${sql.unsafe(people)} (email) VALUES (${email})`,
    sql`SELECT count(*) AS n FROM ${sql.unsafe(people)} WHERE email = ${email}`,
  ]);
  assert.deepEqual(ins, []);
  assert.deepEqual(count, [{ n: '1' }]);
  const after = await sql`SELECT count(*)::int4 AS n FROM ${sql.unsafe(people)} WHERE email = ${email}`;
  assert.deepEqual(after, [{ n: 1 }]);
});

test('transaction rolls back when a later statement fails', async () => {
  const email = `rollback_${suffix}@example.com`;
  await assert.rejects(
    sql.transaction([
      sql`INSERT INTO ${sql.unsafe(people)} (email) VALUES (${email})`,
      sql`SELECT 1 / ${0}::int4 AS boom`,
    ]),
    (e) => {
      assert.ok(e instanceof NeonDbError);
      assert.equal(e.code, '22012');
      return true;
    },
  );
  const rows = await sql`SELECT count(*)::int4 AS n FROM ${sql.unsafe(people)} WHERE email = ${email}`;
  assert.deepEqual(rows, [{ n: 0 }], 'the first statement was not committed');
});

test('transaction options reach PostgreSQL', async () => {
  const [[iso]] = await sql.transaction([sql`SELECT current_setting('transaction_isolation') AS level`], {
    isolationLevel: 'Serializable',
  });
  assert.equal(iso.level, 'serializable');

  const [[ro]] = await sql.transaction([sql`SELECT current_setting('transaction_read_only') AS ro`], {
    isolationLevel: 'RepeatableRead',
    readOnly: true,
  });
  assert.equal(ro.ro, 'on');

  await assert.rejects(
    sql.transaction([sql`INSERT INTO ${sql.unsafe(notes)} (body) VALUES ('nope')`], { readOnly: true }),
    (e) => e instanceof NeonDbError && e.code === '25006',
  );
});

test('syntax errors surface as NeonDbError with PostgreSQL fields', async () => {
  await assert.rejects(sql`SELEC 1`, (e) => {
    assert.ok(e instanceof NeonDbError);
    assert.equal(e.message, 'syntax error at or near "SELEC"');
    assert.equal(e.code, '42601');
    assert.equal(e.severity, 'ERROR');
    assert.equal(e.position, '1');
    assert.equal(e.routine, 'scanner_yyerror');
    assert.equal(e.detail, undefined);
    return true;
  });
});

test('unique violations carry code, constraint, table and detail', async () => {
  const email = `dup_${suffix}@example.com`;
  await sql`INSERT INTO ${sql.unsafe(people)} (email) VALUES (${email})`;
  await assert.rejects(sql`INSERT INTO ${sql.unsafe(people)} (email) VALUES (${email})`, (e) => {
    assert.ok(e instanceof NeonDbError);
    assert.equal(e.code, '23505');
    assert.equal(e.constraint, `${people}_email_key`);
    assert.equal(e.table, people);
    assert.equal(e.schema, 'public');
    assert.equal(e.severity, 'ERROR');
    assert.match(e.detail, /already exists/);
    return true;
  });
});

test('several statements in one query are rejected like Neon does', async () => {
  await assert.rejects(sql.query('SELECT 1; SELECT 2'), (e) => e instanceof NeonDbError && e.code === '42601');
});
