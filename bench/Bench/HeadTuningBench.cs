using System.Diagnostics;
using System.Globalization;
using System.Text;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.TrainHead;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Bench;

/// <summary>
/// How the TrainHead defaults were chosen: a staged grid over the real cached train/validation
/// vectors of an extracted workspace, every point averaged over a few seeds and ranked by mean
/// validation loss (then accuracy). The test split is never loaded. The workspace comes from
/// HEAD_TUNING_CONFIG, else the pipeline bench's workspace (this area sorts after it, so in a full
/// `make bench` that workspace is fresh from the same run);
/// the table is written to bench/out/head-tuning.md.
/// </summary>
public sealed class HeadTuningBench : IBenchmark
{
    public string Name => "train-head-tuning";

    private static readonly int[] Seeds = [42, 1, 2];

    /// <summary>Finalists of stage 1 are re-measured on more seeds before one is chosen.</summary>
    private static readonly int[] FinalistSeeds = [42, 1, 2, 3, 4];

    /// <summary>Mean validation losses closer than this are a tie (seed-to-seed spread is of this order).</summary>
    private const double LossTie = 0.02;

    public void Run(BenchContext context)
    {
        var configPath = ConfigPath(context);
        var config = ConfigLoader.Load(configPath);
        var (train, validation) = LoadTrainAndValidation(config);
        context.Note(Name, $"{configPath}: {train.Count} train, {validation.Count} validation vectors " +
                           $"({validation.Count} validation images: one image = {100.0 / validation.Count:0.00}%); seeds {string.Join(",", Seeds)}");

        var standardized = Standardize(train, validation);
        var sets = new Dictionary<bool, (LabelledVectors Train, LabelledVectors Validation)>
        {
            [false] = (train, validation),
            [true] = standardized,
        };
        var seeds = context.Quick ? Seeds[..1] : Seeds;
        var table = new List<GridRow>();
        GridRow Measure(string stage, TrainHeadConfig c, bool standardize, int[]? withSeeds = null)
        {
            var row = Evaluate(stage, c, standardize, sets[standardize].Train, sets[standardize].Validation, withSeeds ?? seeds);
            table.Add(row);
            Console.WriteLine($"    {row.Format()}");
            return row;
        }

        var defaults = Measure("current defaults", new TrainHeadConfig(), standardize: false, context.Quick ? seeds : FinalistSeeds);

        // Stage 1: optimizer x learning rate (several decades), raw and standardized features.
        // Listed most familiar first: on a tie the earlier setting wins.
        var learningRates = new Dictionary<OptimizerName, double[]>
        {
            [OptimizerName.Adam] = [0.0001, 0.001, 0.01],
            [OptimizerName.Rmsprop] = [0.0001, 0.001, 0.01],
            [OptimizerName.Sgd] = [0.001, 0.01, 0.1, 1.0],
        };
        var stage1 = (from standardize in new[] { false, true }
                      from kv in learningRates
                      from lr in kv.Value
                      select Measure("1 optimizer x lr", new TrainHeadConfig { Optimizer = kv.Key, LearningRate = lr }, standardize)).ToList();
        var lowest = stage1.Min(r => r.Loss);
        var finalists = stage1.Where(r => r.Loss <= lowest + LossTie)
            .Select(r => Measure("1b finalists, 5 seeds", r.Config, r.Standardize, context.Quick ? seeds : FinalistSeeds)).ToList();
        var best = Best(finalists, validation.Count);

        // Stage 2: l2 x batch size around the best optimizer/lr.
        var stage2 = (from l2 in new[] { 0.0, 1e-4, 1e-3, 1e-2 }
                      from batch in new[] { 32, 64, 128 }
                      select Measure("2 l2 x batch", With(best.Config, l2: l2, batch: batch), best.Standardize)).ToList();
        best = Best(stage2.Prepend(best), validation.Count);

        // Stage 3: training length and early-stopping patience.
        var stage3 = (from steps in new[] { 1000, 2000, 4000 }
                      from patience in new[] { 5, 10, 20 }
                      select Measure("3 steps x patience", With(best.Config, steps: steps, patience: patience), best.Standardize)).ToList();
        best = Best(stage3.Prepend(best), validation.Count);

        // Stage 4: label smoothing and class-balanced sampling.
        var stage4 = (from smoothing in new[] { 0.0, 0.1 }
                      from balanced in new[] { false, true }
                      select Measure("4 smoothing x balanced", With(best.Config, smoothing: smoothing, balanced: balanced), best.Standardize)).ToList();
        best = Best(stage4.Prepend(best), validation.Count);

        context.Record(Name, "current defaults: mean validation loss", defaults.Loss, "");
        context.Record(Name, "current defaults: mean validation accuracy", defaults.Accuracy * 100, "%");
        context.Record(Name, "best: mean validation loss", best.Loss, "", best.Describe());
        context.Record(Name, "best: mean validation accuracy", best.Accuracy * 100, "%",
            $"{(best.Accuracy - defaults.Accuracy) * validation.Count:+0.0;-0.0} images vs the current defaults");

        var report = new StringBuilder();
        report.AppendLine($"# head-tuning: {configPath}");
        report.AppendLine();
        report.AppendLine($"Validation only ({validation.Count} images, one image = {100.0 / validation.Count:0.00}%), " +
                          $"mean (± half the seed-to-seed range) over seeds {string.Join(", ", seeds)}.");
        report.AppendLine();
        report.AppendLine("| stage | setting | val loss | val acc % (min..max) | best step | s/run |");
        report.AppendLine("|---|---|---|---|---|---|");
        foreach (var r in table)
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Stage} | {r.Describe()} | {r.Loss:0.000} (±{r.LossSpread / 2:0.000}) | " +
                $"{r.Accuracy * 100:0.00} ({r.MinAccuracy * 100:0.0}..{r.MaxAccuracy * 100:0.0}) | {r.BestStep:0} | {r.Seconds:0.00} |");
        report.AppendLine();
        report.AppendLine($"Best: {best.Describe()}");
        Directory.CreateDirectory(context.WorkDir);
        File.WriteAllText(Path.Combine(context.WorkDir, "head-tuning.md"), report.ToString());
    }

    private static string ConfigPath(BenchContext context)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("HEAD_TUNING_CONFIG");
        if (!string.IsNullOrEmpty(fromEnvironment)) return Path.GetFullPath(fromEnvironment);
        var pipelineBench = Path.Combine(context.WorkDir, "pipeline", "pipeline.yaml");
        return File.Exists(pipelineBench) ? pipelineBench
            : throw new InvalidOperationException(
                "no extracted workspace to tune on: run the pipeline area first (make bench BENCH='pipeline train-head-tuning') or set HEAD_TUNING_CONFIG");
    }

    /// <summary>The same vectors TrainHead reads; the test split stays unopened.</summary>
    private static (LabelledVectors Train, LabelledVectors Validation) LoadTrainAndValidation(PipelineConfig config)
    {
        using var db = IndexDb.Open(config.IndexPath, create: false);
        return SplitVectors.Open(config, db).TrainAndValidation();
    }

    /// <summary>Z-scores every feature with the train split's mean and standard deviation.</summary>
    private static (LabelledVectors Train, LabelledVectors Validation) Standardize(LabelledVectors train, LabelledVectors validation)
    {
        var dim = train.Dimension;
        var mean = new double[dim];
        var squares = new double[dim];
        foreach (var row in train.Rows)
            for (var j = 0; j < dim; j++) { mean[j] += row[j]; squares[j] += (double)row[j] * row[j]; }
        var scale = new double[dim];
        for (var j = 0; j < dim; j++)
        {
            mean[j] /= train.Count;
            var variance = Math.Max(0, squares[j] / train.Count - mean[j] * mean[j]);
            scale[j] = variance > 1e-12 ? 1 / Math.Sqrt(variance) : 1;
        }
        LabelledVectors Apply(LabelledVectors set) => new(
            set.Rows.Select(r => r.Select((v, j) => (float)((v - mean[j]) * scale[j])).ToArray()).ToList(),
            set.Labels, set.LabelNames, set.ContentIds, set.RelativePaths, dim);
        return (Apply(train), Apply(validation));
    }

    private static GridRow Evaluate(string stage, TrainHeadConfig config, bool standardize, LabelledVectors train, LabelledVectors validation, int[] seeds)
    {
        var sw = Stopwatch.StartNew();
        var results = seeds.Select(seed =>
        {
            var c = With(config, seed: seed);
            try { return HeadTrainer.Train(train, validation, c); }
            catch (ConfigException) { return null; } // diverged: ranks last
        }).ToList();
        var seconds = sw.Elapsed.TotalSeconds / seeds.Length;
        if (results.Any(r => r is null))
            return new GridRow(stage, config, standardize, double.PositiveInfinity, 0, 0, 0, 0, 0, seconds);
        var accuracies = results.Select(r => r!.Validation.Accuracy).ToArray();
        var losses = results.Select(r => r!.Validation.Loss).ToArray();
        return new GridRow(stage, config, standardize, losses.Average(), losses.Max() - losses.Min(), accuracies.Average(),
            accuracies.Min(), accuracies.Max(), results.Average(r => r!.BestStep), seconds);
    }

    /// <summary>
    /// Among rows within <see cref="LossTie"/> of the lowest mean validation loss, the highest mean
    /// accuracy. Accuracies at most one validation image apart are a tie; ties go to a setting whose
    /// best step is well inside its step budget (its result does not hinge on `steps`), then to the
    /// earlier row (the incumbent or the more familiar setting).
    /// </summary>
    private static GridRow Best(IEnumerable<GridRow> rows, int validationCount)
    {
        var list = rows.ToList();
        var lowest = list.Min(r => r.Loss);
        var tied = list.Where(r => r.Loss <= lowest + LossTie).ToList();
        var top = tied.Max(r => r.Accuracy);
        tied = tied.Where(r => r.Accuracy >= top - 1.001 / validationCount).ToList();
        return tied.FirstOrDefault(r => r.BestStep <= 0.75 * r.Config.Steps) ?? tied[0];
    }

    private static TrainHeadConfig With(TrainHeadConfig c, double? l2 = null, int? batch = null, int? steps = null, int? patience = null,
        double? smoothing = null, bool? balanced = null, int? seed = null) => new()
        {
            Optimizer = c.Optimizer,
            LearningRate = c.LearningRate,
            Momentum = c.Momentum,
            Steps = steps ?? c.Steps,
            Epochs = c.Epochs,
            BatchSize = batch ?? c.BatchSize,
            L2 = l2 ?? c.L2,
            LabelSmoothing = smoothing ?? c.LabelSmoothing,
            ClassBalanced = balanced ?? c.ClassBalanced,
            Seed = seed ?? c.Seed,
            EvalInterval = c.EvalInterval,
            Patience = patience ?? c.Patience,
        };

    private sealed record GridRow(string Stage, TrainHeadConfig Config, bool Standardize, double Loss, double LossSpread, double Accuracy,
        double MinAccuracy, double MaxAccuracy, double BestStep, double Seconds)
    {
        public string Describe() => string.Create(CultureInfo.InvariantCulture,
            $"{Config.Optimizer.ToString().ToLowerInvariant()} lr {Config.LearningRate} l2 {Config.L2} batch {Config.BatchSize} " +
            $"steps {Config.Steps} patience {Config.Patience}" +
            $"{(Config.LabelSmoothing > 0 ? $" smoothing {Config.LabelSmoothing}" : "")}" +
            $"{(Config.ClassBalanced ? " balanced" : "")}{(Standardize ? " z-score" : "")}");

        public string Format() => string.Create(CultureInfo.InvariantCulture,
            $"{Stage,-22} {Describe(),-70} loss {Loss:0.0000} (±{LossSpread / 2:0.000}) " +
            $"acc {Accuracy * 100:0.00}% ({MinAccuracy * 100:0.0}..{MaxAccuracy * 100:0.0}) best step {BestStep:0} {Seconds:0.00} s/run");
    }
}
