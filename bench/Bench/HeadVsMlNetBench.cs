using System.Diagnostics;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.TrainHead;
using BottleneckPipeline.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BottleneckPipeline.Bench;

/// <summary>
/// Our softmax head (default config) against ML.NET's LbfgsMaximumEntropy on the SAME cached
/// ResNet-18 vectors of the same train split, both scored on the same test split. Reuses the
/// pipeline bench's extracted workspace when it exists (this area sorts after "pipeline"),
/// otherwise ingests and extracts the flowers into a workspace of its own with the stage executables.
/// </summary>
public sealed class HeadVsMlNetBench : IBenchmark
{
    public string Name => "train-head-vs-mlnet";

    public void Run(BenchContext context)
    {
        var configPath = ExtractedFlowers(context);
        var config = ConfigLoader.Load(configPath);
        LabelledVectors train, validation, test;
        using (var db = IndexDb.Open(config.IndexPath, create: false))
        {
            var sets = SplitVectors.Open(config, db).Load(["train", "validation", "test"]);
            (train, validation, test) = (sets[0], sets[1], sets[2]);
        }
        context.Note(Name, $"{configPath}: {train.Count} train / {validation.Count} validation / {test.Count} test vectors of {train.Dimension}; " +
            "ours uses validation for early stopping, ML.NET trains on train alone; times are the second of two runs (JIT warm)");

        var ml = new MLContext(seed: 1);
        var trainView = ToDataView(ml, train);
        var testView = ToDataView(ml, test);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Label", "Features"));

        HeadTrainingResult ours = null!;
        ITransformer mlModel = null!;
        double oursSeconds = 0, mlSeconds = 0;
        for (var run = 0; run < 2; run++)
        {
            var sw = Stopwatch.StartNew();
            ours = HeadTrainer.Train(train, validation, new TrainHeadConfig());
            oursSeconds = sw.Elapsed.TotalSeconds;
            sw.Restart();
            mlModel = pipeline.Fit(trainView);
            mlSeconds = sw.Elapsed.TotalSeconds;
        }

        var oursAccuracy = ours.Head.Accuracy(test);
        var mlMetrics = ml.MulticlassClassification.Evaluate(mlModel.Transform(testView), "Label");
        context.Record(Name, "ours: test accuracy (defaults)", oursAccuracy * 100, "%",
            $"ML.NET LbfgsMaximumEntropy {mlMetrics.MicroAccuracy * 100:0.0}% on the same {test.Count} test vectors");
        context.Record(Name, "ML.NET LbfgsMaximumEntropy: test accuracy", mlMetrics.MicroAccuracy * 100, "%");
        context.Record(Name, "ours: train seconds (defaults)", oursSeconds, "s",
            $"{mlSeconds / oursSeconds:0.00}x faster than ML.NET ({mlSeconds:0.00} s); stopped at step {ours.StepsRun}, best {ours.BestStep}");
        context.Record(Name, "ML.NET LbfgsMaximumEntropy: train seconds", mlSeconds, "s");
        context.Record(Name, "ML.NET test log-loss", mlMetrics.LogLoss, "");
    }

    /// <summary>A config whose workspace holds the extracted flowers (the pipeline bench's when it ran); train-head-1m uses it too.</summary>
    internal static string ExtractedFlowers(BenchContext context)
    {
        var pipelineBench = Path.Combine(context.WorkDir, "pipeline", "pipeline.yaml");
        if (File.Exists(pipelineBench) && File.Exists(Path.Combine(context.WorkDir, "pipeline", "workspace", "reports", "extract.json")))
            return pipelineBench;
        var ws = Path.Combine(context.WorkDir, "train-head-vs-mlnet");
        Directory.CreateDirectory(ws);
        var config = Path.Combine(ws, "pipeline.yaml");
        File.WriteAllText(config, $"dataset:\n  root: {context.Flowers}\nworkspace: {ws}/workspace\n");
        foreach (var stage in new[] { "Ingest", "Extract" })
        {
            var run = BenchContext.RunProcess(context.StageBin(stage), $"--config \"{config}\"");
            if (run.ExitCode != 0) throw new InvalidOperationException($"{stage} failed ({run.ExitCode}): {run.Output}");
        }
        return config;
    }

    private static IDataView ToDataView(MLContext ml, LabelledVectors set)
    {
        var schema = SchemaDefinition.Create(typeof(VectorRow));
        schema[nameof(VectorRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, set.Dimension);
        var rows = Enumerable.Range(0, set.Count).Select(i => new VectorRow { Label = set.LabelNames[set.Labels[i]], Features = set.Rows[i] });
        return ml.Data.LoadFromEnumerable(rows.ToList(), schema);
    }

    private sealed class VectorRow
    {
        public string Label { get; set; } = "";
        public float[] Features { get; set; } = [];
    }
}
