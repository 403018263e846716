using System.Diagnostics;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.TrainHead;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Bench;

/// <summary>
/// TrainHead speed on 1500 x 512 vectors shaped like ResNet-18's pooled features (non-negative,
/// overlapping classes; 5 classes x 300, split 1200/150/150 as the flowers are). Synthetic until
/// the cache is wired in; the figures are for the trainer, not for accuracy on real photos.
/// </summary>
public sealed class TrainHeadBench : IBenchmark
{
    public string Name => "train-head";

    public void Run(BenchContext context)
    {
        var (train, validation, test) = RealisticVectors(classes: 5, perClass: 300, dim: 512, seed: 1);
        context.Note(Name, "trainer speed on synthetic ResNet-like vectors (5 x 300 x 512, ReLU-pooled shape); " +
                           "accuracy on the real cached vectors is in train-head-vs-mlnet");
        var config = new TrainHeadConfig { Patience = 0 }; // all 2000 default steps, so steps/s is comparable
        // Warm-up: let tiered JIT settle on both paths before timing.
        for (var i = 0; i < 2; i++)
        {
            HeadTrainer.Train(train, validation, config, new HeadTrainingOptions { MaxDegreeOfParallelism = 1 });
            HeadTrainer.Train(train, validation, config);
        }

        var serial = Time(() => HeadTrainer.Train(train, validation, config, new HeadTrainingOptions { MaxDegreeOfParallelism = 1 }));
        var parallel = Time(() => HeadTrainer.Train(train, validation, config));
        context.Record(Name, "train seconds (2000 steps, batch 64, 1 thread)", serial.Seconds, "s");
        context.Record(Name, "steps per second (1 thread)", serial.Result.StepsRun / serial.Seconds, "steps/s");
        context.Record(Name, $"train seconds ({Environment.ProcessorCount} threads)", parallel.Seconds, "s",
            $"{serial.Seconds / parallel.Seconds:0.00}x the 1-thread run (5 x 512 loops stay under ParallelWork's split threshold, so both run serially)");
        var identical = serial.Result.Head.Weights.AsSpan().SequenceEqual(parallel.Result.Head.Weights);
        context.Record(Name, "weights bitwise equal 1 vs N threads", identical ? 1 : 0, "bool");
        context.Record(Name, "validation accuracy (default config)", serial.Result.Validation.Accuracy * 100, "%");

        var withStopping = Time(() => HeadTrainer.Train(train, validation, new TrainHeadConfig()));
        context.Record(Name, "train seconds (defaults, early stopping)", withStopping.Seconds, "s",
            $"stopped at step {withStopping.Result.StepsRun}, best step {withStopping.Result.BestStep}");

        var outputs = new HeadOutputPaths(Path.Combine(context.WorkDir, "train-head", "head.msgpack"),
            Path.Combine(context.WorkDir, "train-head", "training_log.csv"), Path.Combine(context.WorkDir, "train-head", "learning_curve.png"));
        var run = Time(() => HeadTrainingRun.Run(train, validation, new TrainHeadConfig(), "synthetic", "synthetic", "bench", outputs));
        context.Record(Name, "full run seconds (train + log + curve PNG + head)", run.Seconds, "s");

        if (context.Quick) return;
        var grid = from optimizer in new[] { OptimizerName.Sgd, OptimizerName.Rmsprop, OptimizerName.Adam }
                   from lr in new[] { 0.003, 0.01, 0.03 }
                   select new TrainHeadConfig { Optimizer = optimizer, LearningRate = lr };
        var sw = Stopwatch.StartNew();
        var runs = grid.Select(c => (c, r: HeadTrainer.Train(train, validation, c))).ToList();
        var best = runs.OrderBy(x => x.r.Validation.Loss).First();
        context.Record(Name, "9-point grid seconds (3 optimizers x 3 lr)", sw.Elapsed.TotalSeconds, "s",
            $"best {best.c.Optimizer} lr {best.c.LearningRate}: val loss {best.r.Validation.Loss:0.###}, test acc {best.r.Head.Accuracy(test):P1}");
    }

    private static (double Seconds, T Result) Time<T>(Func<T> f)
    {
        var sw = Stopwatch.StartNew();
        var r = f();
        return (sw.Elapsed.TotalSeconds, r);
    }

    /// <summary>Non-negative, sparse-ish vectors around per-class profiles, noisy enough that classes overlap.</summary>
    private static (LabelledVectors Train, LabelledVectors Validation, LabelledVectors Test) RealisticVectors(int classes, int perClass, int dim, long seed)
    {
        var r = new SeededRandom(seed);
        var shared = Enumerable.Range(0, dim).Select(_ => Math.Abs(r.NextGaussian())).ToArray();
        var profiles = Enumerable.Range(0, classes)
            .Select(_ => shared.Select(s => s * Math.Exp(0.12 * r.NextGaussian())).ToArray()).ToArray();
        var sets = new[] { new List<(float[], int)>(), new List<(float[], int)>(), new List<(float[], int)>() };
        for (var c = 0; c < classes; c++)
            for (var k = 0; k < perClass; k++)
            {
                var v = profiles[c].Select(m => (float)Math.Max(0, m * (1 + 0.5 * r.NextGaussian()) + 0.5 * r.NextGaussian())).ToArray();
                var split = k < perClass * 8 / 10 ? 0 : k < perClass * 9 / 10 ? 1 : 2;
                sets[split].Add((v, c));
            }
        var names = Enumerable.Range(0, classes).Select(c => $"class{c}").ToArray();
        LabelledVectors Make(List<(float[] V, int L)> rows, string split) => new(
            rows.Select(x => x.V).ToList(), rows.Select(x => x.L).ToArray(), names,
            rows.Select((_, i) => $"{split}{i}").ToArray(), rows.Select((x, i) => $"{names[x.L]}/{split}{i}.jpg").ToArray());
        return (Make(sets[0], "train"), Make(sets[1], "val"), Make(sets[2], "test"));
    }
}
