using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Ingest;
using BottleneckPipeline.TrainHead;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>
/// Ingest, Extract, TrainHead and Evaluate on 60 real flowers (3 classes), once for every test of
/// the collection. The config is a real pipeline.yaml, loaded as a stage loads it.
/// </summary>
public sealed class SmallPipeline : IDisposable
{
    public const int Classes = 3, PerClass = 20;

    public TempDir Dir { get; } = new();
    public string Data { get; }
    public PipelineConfig Config { get; }
    internal EvaluationOutcome First { get; }

    public SmallPipeline()
    {
        Data = TestIndex.CopyFlowers(Dir["data"], Classes, PerClass);
        Config = ConfigLoader.Load(WriteConfig(Dir["run"], Data));
        First = RunAll(Config);
    }

    /// <summary>A pipeline.yaml in <paramref name="dir"/> with 20% of the images for validation and 40%
    /// for test (enough test images for an accuracy to mean something), and a short training; <paramref name="more"/> adds top-level sections.</summary>
    public static string WriteConfig(string dir, string data, string workspace = "ws", string more = "")
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "pipeline.yaml");
        File.WriteAllText(path, $"""
            dataset:
              root: {data}
              validation_percent: 20
              test_percent: 40
            workspace: {workspace}
            train_head:
              steps: 200
            {more}
            """);
        return path;
    }

    internal static EvaluationOutcome RunAll(PipelineConfig config)
    {
        using var db = IndexDb.Open(config.IndexPath);
        var ingest = Ingestor.Run(config.Dataset, db);
        IngestReport.Write(ingest, config.ReportsDir);
        ExtractStage.Run(config, db);
        TrainHeadStage.Run(config, db);
        return EvaluateStage.Run(config, db);
    }

    public HeadArtifact Head() => HeadArtifact.Load(ArtifactPaths.Head(Config));

    /// <summary>Every cached vector of the head's backbone (including images embedded by Evaluate --data or predict).</summary>
    public BottleneckCache Cache() => BottleneckCache.Open(Config.CacheDir, Head().BackboneFingerprint);

    /// <summary>The test split as the index records it: (content id, class, relative path).</summary>
    public List<(string ContentId, string Class, string RelPath)> TestExamples()
    {
        using var db = IndexDb.Open(Config.IndexPath, create: false);
        using var cmd = db.Command("SELECT content_id, class, rel_path FROM examples WHERE split = 'test' AND conflict = 0 ORDER BY rel_path;");
        using var r = cmd.ExecuteReader();
        var rows = new List<(string, string, string)>();
        while (r.Read()) rows.Add((r.GetString(0), r.GetString(1), r.GetString(2)));
        return rows;
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>The tests that share one <see cref="SmallPipeline"/> run; they run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class SmallPipelineCollection : ICollectionFixture<SmallPipeline>
{
    public const string Name = "small pipeline";
}
