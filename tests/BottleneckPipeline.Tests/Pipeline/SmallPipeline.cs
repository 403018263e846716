using System.Text.Json.Nodes;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Ingest;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Extract;
using BottleneckPipeline.Cache;
using BottleneckPipeline.TrainHead;

namespace BottleneckPipeline.Tests.Pipeline;

/// <summary>Ingest, Extract, TrainHead and Evaluate on 30 real flowers, once for the whole class.</summary>
public sealed class SmallPipeline : IDisposable
{
    public TempDir Dir { get; } = new();
    public string Data { get; }
    public PipelineConfig Config { get; }
    public EvaluationOutcome First { get; }

    public SmallPipeline()
    {
        Data = TestIndex.CopyFlowers(Dir["data"], classes: 3, perClass: 10);
        Config = TestIndex.Config(Dir["run"], Data);
        Config.Dataset.ValidationPercent = 25;
        Config.Dataset.TestPercent = 25;
        Config.TrainHead.Steps = 200;
        First = RunAll(Config);
    }

    public static EvaluationOutcome RunAll(PipelineConfig config)
    {
        using var db = IndexDb.Open(config.IndexPath);
        var ingest = Ingestor.Run(config.Dataset, db);
        IngestReport.Write(ingest, config.ReportsDir);
        ExtractStage.Run(config, db);
        TrainHeadStage.Run(config, db);
        return EvaluateStage.Run(config, db);
    }

    public void Dispose() => Dir.Dispose();
}
