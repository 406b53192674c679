// Generates a realistic, reproducible case set for `irsa policy simulate --cases`
// and for compare.mjs (@cloud-copilot/iam-simulate): IRSA trust policies, S3 and
// DynamoDB identity policies with conditions and policy variables, permissions
// boundaries, explicit denies and session policies.
//
// usage: node gen.mjs [COUNT] [SEED] > cases.jsonl

const count = Number(process.argv[2] ?? 5000)
let seed = Number(process.argv[3] ?? 42) >>> 0

// xorshift32: deterministic across runs and machines.
function rand() {
  seed ^= seed << 13
  seed >>>= 0
  seed ^= seed >>> 17
  seed ^= seed << 5
  seed >>>= 0
  return seed / 0x100000000
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)]
const chance = (p) => rand() < p

const ACCOUNT = '111122223333'
const OTHER_ACCOUNT = '444455556666'
const namespaces = ['default', 'payments', 'search', 'ml', 'kube-system', 'monitoring']
const apps = ['api', 'worker', 'aws-cli', 'exporter', 'ingest', 'batch']
const teams = ['blue', 'green', 'red', 'storage-admins']
const tenants = ['t-001', 't-002', 't-003', 't-004']

function issuer() {
  // iam-simulate only recognises OIDC condition keys whose provider part has no '/',
  // so most issuers are bare hosts; some carry an EKS-style path (see docs/policy.md).
  const n = Math.floor(rand() * 8)
  return chance(0.1) ? `oidc.eks.us-east-1.amazonaws.com/id/CLUSTER${n}` : `oidc.cluster${n}.example.com`
}

function trustCase() {
  return trust(issuer())
}

// The same trust shape with Google as the identity provider: iam-simulate knows the
// accounts.google.com condition keys, so these cases check the trust logic itself.
function googleTrustCase() {
  return trust('accounts.google.com')
}

function trust(iss) {
  const ns = pick(namespaces)
  const app = pick(apps)
  const google = iss === 'accounts.google.com'
  const provider = google ? iss : `arn:aws:iam::${ACCOUNT}:oidc-provider/${iss}`
  const wildcard = chance(0.2)
  const trust = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: provider },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: wildcard
          ? { StringLike: { [`${iss}:sub`]: `system:serviceaccount:${ns}:*` }, StringEquals: { [`${iss}:aud`]: 'sts.amazonaws.com' } }
          : { StringEquals: { [`${iss}:sub`]: `system:serviceaccount:${ns}:${app}`, [`${iss}:aud`]: 'sts.amazonaws.com' } }
      }
    ]
  }
  if (chance(0.15)) {
    trust.Statement.push({
      Sid: 'NoKubeSystem',
      Effect: 'Deny',
      Principal: { Federated: provider },
      Action: 'sts:AssumeRoleWithWebIdentity',
      Condition: { StringLike: { [`${iss}:sub`]: 'system:serviceaccount:kube-system:*' } }
    })
  }
  const callerIssuer = chance(0.9) || google ? iss : issuer()
  const sub = `system:serviceaccount:${chance(0.7) ? ns : pick(namespaces)}:${chance(0.7) ? app : pick(apps)}`
  return {
    resourcePolicy: trust,
    request: {
      principal: google ? iss : `arn:aws:iam::${ACCOUNT}:oidc-provider/${callerIssuer}`,
      action: 'sts:AssumeRoleWithWebIdentity',
      resource: `arn:aws:iam::${ACCOUNT}:role/irsa-${ns}-${app}`,
      resourceAccount: ACCOUNT,
      context: { [`${callerIssuer}:sub`]: sub, [`${callerIssuer}:aud`]: chance(0.9) ? 'sts.amazonaws.com' : 'other' }
    }
  }
}

function session(ns, app) {
  return `arn:aws:sts::${ACCOUNT}:assumed-role/irsa-${ns}-${app}/botocore-session-${Math.floor(rand() * 1e6)}`
}

function s3Case() {
  const ns = pick(namespaces)
  const app = pick(apps)
  const prefix = `k8s-${ns}-${app}`
  const team = pick(teams)
  const policies = [
    {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'ListOwnBuckets', Effect: 'Allow', Action: ['s3:ListBucket', 's3:GetBucketLocation'], Resource: `arn:aws:s3:::${prefix}-*` },
        { Sid: 'ObjectsInOwnBuckets', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: `arn:aws:s3:::${prefix}-*/*` },
        {
          Sid: 'TeamHome',
          Effect: 'Allow',
          Action: 's3:*',
          Resource: 'arn:aws:s3:::shared-data/home/${aws:PrincipalTag/team}/*'
        },
        {
          Sid: 'OfficeOnlyWrites',
          Effect: 'Deny',
          Action: 's3:PutObject',
          Resource: '*',
          Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '192.0.2.0/24', '2001:db8::/32'] } }
        }
      ]
    },
    {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'TlsOnly', Effect: 'Deny', Action: 's3:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }
      ]
    }
  ]
  const action = pick(['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:ListBucket', 's3:CreateBucket'])
  const bucket = chance(0.2) ? 'shared-data' : chance(0.75) ? `${prefix}-${pick(['logs', 'data', 'tmp'])}` : `k9s-${ns}-${app}-data`
  const objectActions = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']
  const key = bucket === 'shared-data' ? `home/${chance(0.7) ? team : pick(teams)}/file-${Math.floor(rand() * 100)}` : `obj-${Math.floor(rand() * 1000)}`
  const resource = objectActions.includes(action) ? `arn:aws:s3:::${bucket}/${key}` : `arn:aws:s3:::${bucket}`
  return {
    identityPolicies: policies,
    request: {
      principal: session(ns, app),
      action,
      resource,
      resourceAccount: ACCOUNT,
      context: {
        'aws:SecureTransport': chance(0.9) ? 'true' : 'false',
        'aws:SourceIp': pick(['10.1.2.3', '192.0.2.44', '198.51.100.7', '2001:db8::5', '2001:db9::1']),
        'aws:PrincipalTag/team': team
      }
    }
  }
}

function dynamoCase() {
  const ns = pick(namespaces)
  const app = pick(apps)
  const tenant = pick(tenants)
  const table = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/${ns}-orders`
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'TenantRows',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        Resource: [table, `${table}/index/*`],
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['${aws:PrincipalTag/tenant}'] } }
      },
      {
        Sid: 'NoScans',
        Effect: 'Deny',
        Action: 'dynamodb:Scan',
        Resource: '*'
      }
    ]
  }
  const action = pick(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:DeleteItem'])
  const keys = chance(0.7) ? [tenant] : chance(0.5) ? [tenant, pick(tenants)] : [pick(tenants)]
  return {
    identityPolicies: [policy],
    request: {
      principal: session(ns, app),
      action,
      resource: chance(0.9) ? table : `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/other-orders`,
      resourceAccount: ACCOUNT,
      context: { 'aws:PrincipalTag/tenant': tenant, 'dynamodb:LeadingKeys': keys }
    }
  }
}

function boundaryCase() {
  const ns = pick(namespaces)
  const app = pick(apps)
  const identity = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['s3:*', 'dynamodb:*', 'sqs:SendMessage'], Resource: '*' }]
  }
  const boundary = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'S3AndQueuesOnly',
        Effect: 'Allow',
        Action: ['s3:*', 'sqs:*'],
        Resource: '*',
        Condition: { DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' }, StringEqualsIfExists: { 'aws:RequestedRegion': ['us-east-1', 'eu-west-1'] } }
      },
      { Sid: 'KeepBuckets', Effect: 'Deny', Action: 's3:DeleteBucket', Resource: '*' }
    ]
  }
  const c = {
    identityPolicies: [identity],
    permissionBoundaries: [boundary],
    request: {
      principal: session(ns, app),
      action: pick(['s3:GetObject', 's3:DeleteBucket', 'dynamodb:GetItem', 'sqs:SendMessage']),
      resource: '',
      resourceAccount: ACCOUNT,
      context: {
        'aws:CurrentTime': chance(0.9) ? '2026-11-23T12:00:00Z' : '2031-02-01T00:00:00Z',
        'aws:RequestedRegion': pick(['us-east-1', 'eu-west-1', 'ap-south-1'])
      }
    }
  }
  const r = c.request
  r.resource = {
    's3:GetObject': `arn:aws:s3:::k8s-${ns}-${app}-data/key`,
    's3:DeleteBucket': `arn:aws:s3:::k8s-${ns}-${app}-data`,
    'dynamodb:GetItem': `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/${ns}`,
    'sqs:SendMessage': `arn:aws:sqs:us-east-1:${ACCOUNT}:${ns}-jobs`
  }[r.action]
  if (chance(0.3)) {
    c.sessionPolicy = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 'sqs:*'], Resource: '*' }]
    }
  }
  return c
}

function bucketPolicyCase() {
  const ns = pick(namespaces)
  const app = pick(apps)
  const bucket = `shared-${ns}`
  const resourcePolicy = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadForReaders',
        Effect: 'Allow',
        Principal: { AWS: [`arn:aws:iam::${ACCOUNT}:role/irsa-${ns}-api`, `arn:aws:iam::${OTHER_ACCOUNT}:root`] },
        Action: ['s3:GetObject', 's3:ListBucket'],
        Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`]
      },
      {
        Sid: 'DenyInsecure',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } }
      }
    ]
  }
  const cross = chance(0.25)
  const principal = cross ? `arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/reader/s${Math.floor(rand() * 1000)}` : session(ns, chance(0.5) ? 'api' : app)
  const action = pick(['s3:GetObject', 's3:ListBucket', 's3:PutObject'])
  return {
    identityPolicies: cross && chance(0.5) ? [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:Get*', Resource: '*' }] }] : [],
    resourcePolicy,
    request: {
      principal,
      action,
      resource: action === 's3:ListBucket' ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/obj`,
      resourceAccount: ACCOUNT,
      context: { 'aws:SecureTransport': chance(0.9) ? 'true' : 'false' }
    }
  }
}

const kinds = [
  [0.2, trustCase],
  [0.1, googleTrustCase],
  [0.25, s3Case],
  [0.15, dynamoCase],
  [0.15, boundaryCase],
  [0.15, bucketPolicyCase]
]
const out = []
for (let i = 0; i < count; i++) {
  let r = rand()
  let make = kinds[kinds.length - 1][1]
  for (const [p, f] of kinds) {
    if (r < p) {
      make = f
      break
    }
    r -= p
  }
  const c = make()
  out.push(JSON.stringify({ id: `${make.name}-${i}`, ...c }))
}
process.stdout.write(out.join('\n') + '\n')
