package data_test

import (
	"context"
	"fmt"
	"log"

	"github.com/lrsgd-lab/lrsgd/host/data"
)

// Load a data set, draw augmented training batches and evaluation batches.
func Example() {
	train, test, err := data.Load(context.Background(), data.Source{
		Dataset: data.Synthetic, TrainSize: 200, TestSize: 50, Seed: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(train.N, test.N, train.C, train.H, train.W, train.Classes)

	const batch = 32
	x := make([]float32, batch*train.ImageSize())
	y := make([]int, batch)
	st := data.NewStream(train, batch, 7, true)
	for range 10 { // 320 draws: one pass of 200 and 120 into the next
		st.Next(x, y, nil)
	}
	state := st.State() // save with a checkpoint, restore with SetState
	fmt.Printf("pass %d offset %d\n", state.Pass, state.Offset)

	for start := 0; start < test.N; start += batch {
		n := test.Batch(start, batch, x, y)
		_ = x[:n*test.ImageSize()] // evaluate on these
	}
	// Output:
	// 200 50 3 32 32 10
	// pass 1 offset 120
}
