using System.Text.Json.Nodes;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Index;
using BottleneckPipeline.Ingest;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Extract;

public class ExtractStageTests
{
    [Fact]
    public void Extracts_once_then_is_up_to_date_then_a_warm_rerun_decodes_nothing()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 4);
        var config = TestIndex.Config(t.Path, data);
        using var db = IndexDb.Open(config.IndexPath);
        TestIndex.Fill(db, data);

        var first = ExtractStage.Run(config, db);
        Assert.Equal(8, first.Extracted);
        Assert.Equal(0, first.Reused);
        Assert.Equal(512, first.Dimension);
        Assert.Equal(8, first.Decoded);
        var report = JsonNode.Parse(File.ReadAllText(ArtifactPaths.ExtractReport(config)))!;
        string[] keys = ["extracted", "reused", "quarantined", "seconds", "images_per_second", "fingerprint", "dimension", "backbone", "inputs_hash"];
        foreach (var key in keys)
            Assert.NotNull(report[key]);
        Assert.Equal("resnet18", report["backbone"]!.GetValue<string>());

        var cache = BottleneckCache.Open(config.CacheDir, first.Fingerprint);
        Assert.Equal(8, cache.Count);
        foreach (var w in ExtractStage.ReadExamples(db, data)) Assert.Contains(cache.Get(w.ContentId)!, v => v != 0);

        Assert.True(ExtractStage.Run(config, db).UpToDate);

        File.Delete(ArtifactPaths.ExtractReport(config));
        var warm = ExtractStage.Run(config, db);
        Assert.False(warm.UpToDate);
        Assert.Equal(0, warm.Extracted);
        Assert.Equal(8, warm.Reused);
        Assert.Equal(0, warm.Decoded);
    }

    [Fact]
    public void Swapping_datasets_extracts_only_images_never_seen()
    {
        using var t = new TempDir();
        var cacheDir = t["shared-cache"];
        var first = TestIndex.CopyFlowers(t["first"], classes: 2, perClass: 3);
        var a = TestIndex.Config(t["a"], first, cacheDir);
        using (var db = IndexDb.Open(a.IndexPath))
        {
            TestIndex.Fill(db, first);
            Assert.Equal(6, ExtractStage.Run(a, db).Extracted);
        }

        // Another folder: the same images renamed and relabelled into one new class, plus one new image.
        var second = Directory.CreateDirectory(t["second/everything"]).FullName;
        var n = 0;
        foreach (var f in Directory.GetFiles(first, "*.jpg", SearchOption.AllDirectories).Order())
            File.Copy(f, Path.Combine(second, $"renamed-{n++}.jpg"));
        var extra = Directory.GetFiles(Directory.GetDirectories(RepoPaths.Flowers).Order().Last(), "*.jpg").Order().First();
        File.Copy(extra, Path.Combine(second, "new.jpg"));

        var b = TestIndex.Config(t["b"], t["second"], cacheDir);
        using var db2 = IndexDb.Open(b.IndexPath);
        TestIndex.Fill(db2, t["second"]);
        var run = ExtractStage.Run(b, db2);
        Assert.Equal(1, run.Extracted);
        Assert.Equal(6, run.Reused);
        Assert.Equal(1, run.Decoded);
        Assert.Equal(7, BottleneckCache.Open(cacheDir, run.Fingerprint).Count);
    }

    [Fact]
    public void Broken_or_changed_images_are_quarantined_and_the_run_goes_on()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 1, perClass: 4);
        var files = Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).Order().ToArray();
        var truncated = File.ReadAllBytes(files[0]);
        File.WriteAllBytes(files[0], truncated[..(truncated.Length / 3)]);
        var config = TestIndex.Config(t.Path, data);
        using var db = IndexDb.Open(config.IndexPath);
        TestIndex.Fill(db, data);
        // After indexing: one file edited, one deleted.
        File.AppendAllText(files[1], "edited");
        File.Delete(files[2]);

        var run = ExtractStage.Run(config, db);
        Assert.Equal(1, run.Extracted);
        Assert.Equal(3, run.Quarantined);
        var reasons = new Dictionary<string, string>();
        using (var cmd = db.Command("SELECT rel_path, reason FROM quarantine;"))
        using (var r = cmd.ExecuteReader())
            while (r.Read()) reasons[r.GetString(0)] = r.GetString(1);
        Assert.Equal(3, reasons.Count);
        Assert.Contains("truncated", reasons.Single(kv => files[0].EndsWith(kv.Key.Replace('/', Path.DirectorySeparatorChar))).Value);
        Assert.Equal(ImagePreparer.ChangedReason, reasons.Single(kv => files[1].EndsWith(kv.Key.Replace('/', Path.DirectorySeparatorChar))).Value);
        Assert.Contains("re-run Ingest", reasons.Single(kv => files[2].EndsWith(kv.Key.Replace('/', Path.DirectorySeparatorChar))).Value);
        var kinds = new Dictionary<string, string>();
        using (var cmd = db.Command("SELECT rel_path, kind FROM quarantine;"))
        using (var r = cmd.ExecuteReader())
            while (r.Read()) kinds[Path.GetFileName(r.GetString(0))] = r.GetString(1);
        Assert.Equal("decode", kinds[Path.GetFileName(files[0])]);
        Assert.Equal("changed", kinds[Path.GetFileName(files[1])]);
        Assert.Equal("missing", kinds[Path.GetFileName(files[2])]);

        // Quarantined images are not retried (no decode) on the next run.
        File.Delete(ArtifactPaths.ExtractReport(config));
        var again = ExtractStage.Run(config, db);
        Assert.Equal(0, again.Decoded);
        Assert.Equal(3, again.Quarantined);
    }

    [Fact]
    public void Extract_takes_Ingests_hash_from_the_index_so_a_missing_or_stale_report_changes_nothing()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 3);
        var config = TestIndex.Config(t.Path, data);
        var ingestJson = Path.Combine(config.ReportsDir, "ingest.json");
        using var db = IndexDb.Open(config.IndexPath);
        Assert.Null(IngestMeta.Read(db));
        var first = Ingestor.Run(config.Dataset, db);
        IngestReport.Write(first, config.ReportsDir);
        Assert.Equal(first.IndexHash, IngestMeta.Read(db)!.IndexHash);
        Assert.Equal(data, IngestMeta.Read(db)!.DatasetRoot);
        Assert.Equal(6, ExtractStage.Run(config, db).Extracted);
        var oldReport = File.ReadAllText(ingestJson);

        File.Delete(ingestJson);
        Assert.True(ExtractStage.Run(config, db).UpToDate);
        File.WriteAllText(ingestJson, "{ \"index_hash\": \"not json");
        Assert.True(ExtractStage.Run(config, db).UpToDate);

        // A new image is ingested, and a crash comes before the report is rewritten: the old report stays.
        var cls = Directory.GetDirectories(data).Order(StringComparer.Ordinal).First();
        var extra = Directory.GetFiles(Directory.GetDirectories(RepoPaths.Flowers).Order(StringComparer.Ordinal).Last(), "*.jpg")
            .Order(StringComparer.Ordinal).First();
        File.Copy(extra, Path.Combine(cls, "new.jpg"));
        var second = Ingestor.Run(config.Dataset, db);
        File.WriteAllText(ingestJson, oldReport);
        Assert.Equal(second.IndexHash, IngestMeta.Read(db)!.IndexHash);
        var run = ExtractStage.Run(config, db);
        Assert.False(run.UpToDate);
        Assert.Equal(1, run.Extracted);
        Assert.Equal(6, run.Reused);
    }

    [Fact]
    public void An_empty_index_says_to_run_Ingest()
    {
        using var t = new TempDir();
        var config = TestIndex.Config(t.Path, t["data"]);
        using var db = IndexDb.Open(config.IndexPath);
        var e = Assert.Throws<BottleneckPipeline.Runtime.InputException>(() => ExtractStage.Run(config, db));
        Assert.Contains("Ingest", e.Message);
        Assert.False(File.Exists(ArtifactPaths.ExtractReport(config)));
    }

    [Fact]
    public void Embedding_arbitrary_files_goes_through_the_same_cache()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 1, perClass: 2);
        var config = TestIndex.Config(t.Path, data, extra: "cache:\n  precision: float16\n");
        using var db = IndexDb.Open(config.IndexPath);
        TestIndex.Fill(db, data);
        var files = Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).Order().ToArray();

        // Never ingested: embeds and caches.
        var outside = t["outside.jpg"];
        File.Copy(files[0], outside);
        var spec = BackboneFactory.Resolve(config);
        var fresh = ImageEmbedder.Embed(spec, config, [outside, t["missing.jpg"]]);
        Assert.Equal(512, fresh[0].Vector!.Length);
        Assert.NotNull(fresh[1].Error);

        // Extract now reuses it, and the cached vector is exactly what the embedder returned.
        var run = ExtractStage.Run(config, db);
        Assert.Equal(1, run.Extracted);
        Assert.Equal(1, run.Reused);
        var cached = BottleneckCache.Open(config.CacheDir, spec.Fingerprint).Get(fresh[0].ContentId!)!;
        Assert.Equal(cached, fresh[0].Vector);
        var again = ImageEmbedder.Embed(spec, config, [files[1]]);
        Assert.Equal(BottleneckCache.Open(config.CacheDir, spec.Fingerprint).Get(again[0].ContentId!), again[0].Vector);
    }
}
