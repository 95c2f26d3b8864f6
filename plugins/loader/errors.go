package loader

import "errors"

// ErrPluginStopped is matched (errors.Is) by the error of a call to a
// plugin whose process died, whose connection broke, that missed its
// deadline or whose call was cancelled: the plugin is stopped, and every
// later call (also after Close) returns an error that matches it too. Such
// a failure says nothing about the run's configuration; a study runs the
// trial again. Other errors of an opened plugin are answers of a running
// plugin, such as a refused configuration.
var ErrPluginStopped = errors.New("plugin stopped")
