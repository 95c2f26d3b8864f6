// Package paperdoc holds the test that checks the results document,
// docs/paper.md, against the stores committed under experiments/: every
// measured number in the document carries a check tag, an HTML comment
// right after it that says where report finds it,
//
//	66.7 [65.1, 68.3]<!-- check cpu/table1.db table1 configs[optimizer=sgd].test_accuracy % -->
//
// and the test recomputes each with package report and compares the text
// digit for digit.
//
// A tag is "check STORE STUDY PATH [OPTION …]". STORE is a path under
// experiments/. PATH walks the JSON of report's study (the keys of
// `report --format json`): names separated by dots, and NAME[FIELD=VALUE]
// to pick the element of a list whose FIELD (dotted for nested fields,
// such as params.gamma) prints as VALUE. A path that ends at a summary
// (an object with mean and ci95) compares its mean, and its 95% interval
// when the text shows one in brackets; one that ends at a number
// compares it. Options: % multiplies by 100; baseline=OPT and target=T
// are report's --baseline and --target.
package paperdoc
