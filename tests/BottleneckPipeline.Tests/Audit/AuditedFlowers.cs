using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Audit;
using BottleneckPipeline.Config;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Index;
using BottleneckPipeline.Ingest;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.TrainHead;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Processing;

namespace BottleneckPipeline.Tests.Audit;

/// <summary>
/// 90 real flowers (daisy, dandelion, roses: 30 each) with known faults planted, ingested, extracted and trained
/// on, then audited, once for every test of the collection: a daisy (a plain one: white daisies on leaves) moved
/// into the roses folder, a near-copy of a dandelion beside it (resized to 85%, cropped to its central 92%, JPEG
/// quality 70) and a near-copy of a rose filed under daisy.
/// </summary>
public sealed class AuditedFlowers : IDisposable
{
    public const string Moved = "roses/moved_daisy.jpg", MovedFrom = "daisy/11023272144_fce94401f2_m.jpg";
    public const string CopySource = "dandelion/copy_source.jpg", Copy = "dandelion/copy_source_near.jpg";
    public const string ConflictSource = "roses/conflict_source.jpg", ConflictCopy = "daisy/conflict_copy.jpg";

    public TempDir Dir { get; } = new();
    public string Data { get; }
    public PipelineConfig Config { get; }
    internal AuditOutcome First { get; }

    public AuditedFlowers()
    {
        Data = TestIndex.CopyFlowers(Dir["data"], classes: 3, perClass: 31);
        // The 31st dandelion and rose become planted faults (chosen before anything moves into their folders), and
        // the moved daisy is one of the first 31: every class keeps 30 photos of its own.
        string Last(string cls) => Directory.GetFiles(Path.Combine(Data, cls)).Order(StringComparer.Ordinal).Last();
        var (dandelion, rose) = (Last("dandelion"), Last("roses"));
        File.Move(Path.Combine(Data, MovedFrom), Path.Combine(Data, Moved));
        File.Move(dandelion, Path.Combine(Data, CopySource));
        NearCopy(Path.Combine(Data, CopySource), Path.Combine(Data, Copy));
        File.Move(rose, Path.Combine(Data, ConflictSource));
        NearCopy(Path.Combine(Data, ConflictSource), Path.Combine(Data, ConflictCopy));
        Config = ConfigLoader.Load(WriteConfig(Dir["run"], Data, Dir["ws"]));
        First = Run(Config);
    }

    /// <summary>A pipeline.yaml with 20% of the images for validation and 40% for test, and the default train_head
    /// settings (the audit's folds follow them); <paramref name="more"/> adds lines.</summary>
    public static string WriteConfig(string dir, string data, string workspace, string more = "")
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "pipeline.yaml");
        File.WriteAllText(path, $"dataset:\n  root: {data}\n  validation_percent: 20\n  test_percent: 40\nworkspace: {workspace}\n{more}");
        return path;
    }

    /// <summary>Ingest, Extract and TrainHead as the stages run them, then the Audit stage.</summary>
    internal static AuditOutcome Run(PipelineConfig config)
    {
        using var db = IndexDb.Open(config.IndexPath);
        IngestReport.Write(Ingestor.Run(config.Dataset, db), config.ReportsDir);
        ExtractStage.Run(config, db);
        TrainHeadStage.Run(config, db);
        return AuditStage.Run(config, db);
    }

    public static void NearCopy(string source, string dest) => File.WriteAllBytes(dest, NearCopyBytes(source));

    /// <summary>The photo resized to 85%, cropped to its central 92% and <paramref name="extra"/> pixels narrower, at JPEG quality 70.</summary>
    public static byte[] NearCopyBytes(string source, int extra = 0)
    {
        using var image = Image.Load(source);
        image.Mutate(x => x.Resize((int)Math.Round(image.Width * 0.85), (int)Math.Round(image.Height * 0.85)));
        var (w, h) = ((int)Math.Round(image.Width * 0.92) - extra, (int)Math.Round(image.Height * 0.92));
        image.Mutate(x => x.Crop(new Rectangle((image.Width - w) / 2, (image.Height - h) / 2, w, h)));
        using var jpeg = new MemoryStream();
        image.SaveAsJpeg(jpeg, new JpegEncoder { Quality = 70 });
        return jpeg.ToArray();
    }

    public DatasetIssues Report() => DatasetIssues.TryRead(Config) ?? throw new InvalidOperationException("no dataset_issues.json");

    public void Dispose() => Dir.Dispose();
}

[CollectionDefinition(Name)]
public sealed class AuditedFlowersCollection : ICollectionFixture<AuditedFlowers>
{
    public const string Name = "audited flowers";
}
