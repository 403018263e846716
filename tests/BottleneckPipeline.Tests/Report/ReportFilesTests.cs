using System.Text.Json.Nodes;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Index;
using BottleneckPipeline.Ingest;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Report;

/// <summary>
/// The JSON reports written from typed records: each reads back equal to what was written, with
/// the keys, in the order, that readers and earlier runs' files have, and its checksum last; a file
/// its checksum does not vouch for (edited, damaged, or from before checksums) is refused.
/// </summary>
public class ReportFilesTests
{
    private static string[] Keys(JsonNode? node) => [.. node!.AsObject().Select(p => p.Key)];

    [Fact]
    public void Ingest_json_reads_back_equal_with_its_keys_in_order_and_file_names_as_they_are()
    {
        using var bed = new IngestBed();
        var seed = 0;
        foreach (var cls in new[] { "cats", "dogs" })
            for (var i = 0; i < 6; i++) TestImages.Write(bed.File($"{cls}/img{i:000}.png"), seed++, width: 4, height: 4);
        File.Copy(bed.File("cats/img000.png"), bed.File("dogs/same bytes.png")); // a conflict
        File.Copy(bed.File("cats/img001.png"), bed.File("cats/café+1.png")); // a duplicate within the class
        File.WriteAllBytes(bed.File("dogs/empty.png"), []); // a reject
        File.WriteAllText(bed.File("dogs/readme.md"), "# dogs"); // skipped
        var r = bed.Run();

        var path = IngestReport.Write(r, bed.Dir["reports"]);
        var text = File.ReadAllText(path);
        var read = IngestReport.Read(path);
        Assert.Equivalent(IngestReport.Contents(r), read, strict: true);
        Assert.Equal(text, ReportJson.Serialize(read));
        Assert.EndsWith("}\n", text);
        Assert.Contains("\"cats/café+1.png\"", text); // not \u00E9, \u002B

        var json = JsonNode.Parse(text)!;
        Assert.Equal(["stage", "dataset_root", "index_hash", "images", "examples", "include_conflicts", "classes", "splits", "skipped", "rejects",
            "conflicts", "duplicates", "warnings", "classes_without_training", "changes", "seconds", "checksum"], Keys(json));
        Assert.Equal(["label_id", "name", "files", "examples", "conflicts", "train", "validation", "test"], Keys(json["classes"]![0]));
        Assert.Equal(["train", "validation", "test"], Keys(json["splits"]));
        Assert.Equal(["hidden", "non_image"], Keys(json["skipped"]));
        Assert.Equal(["path", "reason"], Keys(json["rejects"]![0]));
        Assert.Equal(["content_id", "paths"], Keys(json["conflicts"]![0]));
        Assert.Equal(["path", "same_as"], Keys(json["duplicates"]![0]));
        Assert.Equal(["added", "changed", "removed", "probed", "reused"], Keys(json["changes"]));
        Assert.Equal("ingest", (string?)json["stage"]);
        Assert.Equal(["cats/img000.png", "dogs/same bytes.png"], json["conflicts"]![0]!["paths"]!.AsArray().Select(p => (string)p!));
        Assert.Equal("cats/café+1.png", (string?)json["duplicates"]![0]!["same_as"]); // the first by path
        Assert.Equal(r.SplitCount(Splits.Validation), (int?)json["splits"]!["validation"]);
        Assert.Equal(7, (int?)json["classes"]![1]!["files"]);
    }

    [Fact]
    public void Extract_json_reads_back_equal_and_an_older_edited_or_broken_file_is_refused_as_unverifiable_or_damaged()
    {
        using var dir = new TempDir();
        var config = new PipelineConfig { Workspace = dir.Path };
        var totals = new ShardTotals(3, "2,4", 10, 1, 2, 99, 1.23456, 7.891011);
        var summary = new ExtractSummary(false, 5, 6, 7, 8, 9.87654321, 10.123456, "abcdef", 512, "resnet18 (int8)", "hash", totals);
        ExtractReport.Write(config, summary);
        var path = ArtifactPaths.ExtractReport(config);
        var rounded = summary with { Seconds = 9.877, ImagesPerSecond = 10.12, Shards = totals with { LongestSeconds = 1.235, ImagesPerSecond = 7.89 } };
        Assert.Equal(rounded, ExtractReport.TryRead(config));

        var json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal(["extracted", "reused", "quarantined", "decoded", "seconds", "images_per_second", "fingerprint", "dimension", "backbone",
            "cache_dir", "precision", "inputs_hash", "shards", "checksum"], Keys(json));
        Assert.Equal(["summaries", "counts", "extracted", "quarantined", "embedded_by_others", "decoded", "longest_seconds", "images_per_second"],
            Keys(json["shards"]));
        Assert.Equal(config.CacheDir, (string?)json["cache_dir"]);
        Assert.Equal("float32", (string?)json["precision"]);

        // Without shards there is no "shards" key at all.
        config.Cache.Precision = VectorPrecision.Float16;
        ExtractReport.Write(config, summary with { Shards = null });
        json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Null(json["shards"]);
        Assert.False(json.AsObject().ContainsKey("shards"));
        Assert.Equal("float16", (string?)json["precision"]);
        Assert.Equal(rounded with { Shards = null }, ExtractReport.TryRead(config));

        // A report from before checksums is unverifiable; an edited one, or one cut short, is damaged; a checksummed text
        // that is not the record (another version's) is of another format. Extract writes each again; other readers refuse it.
        var text = File.ReadAllText(path);
        var body = text[..text.LastIndexOf(",\n  \"checksum\"", StringComparison.Ordinal)] + "\n}\n";
        Assert.Equal(ArtifactFault.Unverifiable, FaultOf(config, body));
        Assert.Equal(ArtifactFault.Damaged, FaultOf(config, text.Replace("\"dimension\": 512", "\"dimension\": 513", StringComparison.Ordinal)));
        Assert.Equal(ArtifactFault.Unverifiable, FaultOf(config, text[..(text.Length / 2)]));
        Assert.Equal(ArtifactFault.Unverifiable, FaultOf(config, "{ \"extracted\": "));
        json.AsObject().Remove("fingerprint");
        json.AsObject().Remove("checksum");
        Assert.Equal(ArtifactFault.OtherFormat, FaultOf(config, JsonChecksum.Add(json.ToJsonString(ReportJson.Options))));
        var refused = Assert.Throws<DamagedArtifactException>(() => ExtractReport.Read(config));
        Assert.Equal(ExitCodes.BadInput, refused.ExitCode);
        Assert.EndsWith("is not in the format this version reads: run make extract: Extract checks the cache and writes it again", refused.Message);
    }

    private static ArtifactFault FaultOf(PipelineConfig config, string text)
    {
        File.WriteAllText(ArtifactPaths.ExtractReport(config), text);
        return Assert.Throws<DamagedArtifactException>(() => ExtractReport.TryRead(config)).Fault;
    }

    [Fact]
    public void A_shard_summary_reads_back_equal_and_one_with_an_unknown_kind_is_unreadable()
    {
        using var dir = new TempDir();
        var config = new PipelineConfig { Workspace = dir.Path };
        var summary = new ShardSummary(new ExtractShard(1, 4), "ih", "fp", 512, "resnet18", 10, 8, 1, 1, 2,
            [new ShardQuarantine("c1", "cats/café.png", QuarantineKind.Decode, "bad"),
                new ShardQuarantine("c2", "dogs/b.png", QuarantineKind.Changed, "moved")],
            99, 3.14159265, 2.7182818, "node-1");
        summary.Write(config);
        var path = ShardSummary.PathFor(config, summary.Shard);
        Assert.Equivalent(summary with { Seconds = 3.142, ImagesPerSecond = 2.72 }, ShardSummary.TryRead(path), strict: true);

        var json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal(["shard", "index", "count", "inputs_hash", "fingerprint", "dimension", "backbone", "assigned", "extracted", "reused",
            "embedded_by_others", "waited_pieces", "quarantined", "decoded", "seconds", "images_per_second", "host", "checksum"], Keys(json));
        Assert.Equal(["content_id", "rel_path", "kind", "reason"], Keys(json["quarantined"]![0]));
        Assert.Equal("1/4", (string?)json["shard"]);
        Assert.Equal("changed", (string?)json["quarantined"]![1]!["kind"]);

        // A flipped bit fails the checksum; a kind this version does not know, under a checksum that holds, is another format.
        var text = File.ReadAllText(path);
        File.WriteAllText(path, text.Replace("node-1", "node-3", StringComparison.Ordinal));
        Assert.Null(ShardSummary.TryRead(path));
        Assert.Equal(ArtifactFault.Damaged, Assert.Throws<DamagedArtifactException>(() => ShardSummary.Read(path)).Fault);
        json["quarantined"]![1]!["kind"] = "gone";
        json.AsObject().Remove("checksum");
        File.WriteAllText(path, JsonChecksum.Add(json.ToJsonString(ReportJson.Options)));
        Assert.Null(ShardSummary.TryRead(path));
        Assert.Equal(ArtifactFault.OtherFormat, Assert.Throws<DamagedArtifactException>(() => ShardSummary.Read(path)).Fault);
        var (_, _, damage) = Assert.Single(ShardSummary.ReadAll(config));
        Assert.Equal(path, damage!.Path);
    }
}
