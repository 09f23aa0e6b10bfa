'use strict'
// Entry point of the mycel testground plan (docker:node runs `npm start`).
const { invokeMap } = require('@testground/sdk')

const testcases = {
  join: require('./cases/join'),
  'failure-detection': require('./cases/failure-detection'),
  churn: require('./cases/churn'),
  'partition-heal': require('./cases/partition-heal'),
  'component-distribution': require('./cases/component-distribution'),
  rollout: require('./cases/rollout'),
  revocation: require('./cases/revocation'),
  bft: require('./cases/bft'),
  regions: require('./cases/regions'),
  'config-propagation': require('./cases/config-propagation')
}

invokeMap(testcases).catch(err => {
  // invokeMap reports the case's own failures; this is for the sdk failing around it (e.g. no sync service).
  console.error(err)
  process.exitCode = 1
}).finally(() => {
  // An agent child or a stray handle must not keep a finished instance alive.
  setTimeout(() => process.exit(), 2000).unref()
})
