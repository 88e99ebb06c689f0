package cluster

// MaxJoinsInFlight is maxJoinsInFlight, for the external tests.
const MaxJoinsInFlight = maxJoinsInFlight
