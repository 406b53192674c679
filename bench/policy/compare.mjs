// Evaluates cases.jsonl with @cloud-copilot/iam-simulate, measures decisions per
// second, and compares its decisions with irsa's results (one JSON line per case).
//
// usage: node compare.mjs cases.jsonl irsa-results.jsonl [--unsafe]
//   --unsafe  use runUnsafeSimulation (skips input validation) for the timing too

import { readFileSync } from 'node:fs'
import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate'

const [casesPath, irsaPath] = process.argv.slice(2)
const unsafe = process.argv.includes('--unsafe')
const cases = readFileSync(casesPath, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l))
const irsa = irsaPath ? readFileSync(irsaPath, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l)) : null

const DECISION = { Allowed: 'allowed', ExplicitlyDenied: 'explicitDeny', ImplicitlyDenied: 'implicitDeny' }

function toSimulation(c) {
  const r = c.request
  return {
    identityPolicies: (c.identityPolicies ?? []).map((policy, i) => ({ name: `identity-${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: c.resourcePolicy,
    permissionBoundaryPolicies: c.permissionBoundaries?.map((policy, i) => ({ name: `boundary-${i}`, policy })),
    sessionPolicy: c.sessionPolicy,
    request: {
      principal: r.principal,
      action: r.action,
      resource: { resource: r.resource, accountId: r.resourceAccount ?? '111122223333' },
      contextVariables: r.context ?? {}
    }
  }
}

const sims = cases.map(toSimulation)
const decisions = new Array(sims.length)
const errors = []
const start = process.hrtime.bigint()
for (let i = 0; i < sims.length; i++) {
  if (unsafe) {
    const res = runUnsafeSimulation(sims[i], {})
    decisions[i] = DECISION[res.result] ?? res.result
  } else {
    const res = await runSimulation(sims[i], {})
    if (res.resultType === 'error') {
      decisions[i] = 'error'
      errors.push({ id: cases[i].id, errors: res.errors })
    } else {
      decisions[i] = DECISION[res.overallResult] ?? res.overallResult
    }
  }
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9
const rate = sims.length / seconds

const summary = {
  engine: unsafe ? 'iam-simulate runUnsafeSimulation' : 'iam-simulate runSimulation',
  cases: sims.length,
  seconds: Number(seconds.toFixed(3)),
  decisionsPerSecond: Math.round(rate),
  errors: errors.length
}

if (irsa) {
  if (irsa.length !== cases.length) {
    console.error(`irsa produced ${irsa.length} lines for ${cases.length} cases`)
    process.exit(2)
  }
  const byKind = {}
  const examples = []
  let agree = 0
  for (let i = 0; i < cases.length; i++) {
    const kind = cases[i].id.replace(/-\d+$/, '')
    const ours = irsa[i].decision ?? `error: ${irsa[i].error}`
    const theirs = decisions[i]
    const k = (byKind[kind] ??= { cases: 0, agree: 0 })
    k.cases++
    if (ours === theirs) {
      agree++
      k.agree++
    } else if (examples.length < 10) {
      examples.push({ id: cases[i].id, irsa: ours, iamSimulate: theirs, request: cases[i].request })
    }
  }
  summary.agree = agree
  summary.disagree = cases.length - agree
  summary.byKind = byKind
  summary.disagreementExamples = examples
}
if (errors.length > 0) summary.errorExamples = errors.slice(0, 3)
console.log(JSON.stringify(summary, null, 2))
