package main

// The networking models netlab offers. Each registers its verb (lab.Mode)
// and its view (lab.View); nothing else in this package knows them.
import (
	_ "netlab/bridge"
	_ "netlab/overlay"
)
