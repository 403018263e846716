using System.Text.Json.Nodes;
using BottleneckPipeline.Index;
using BottleneckPipeline.Ingest;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Ingest;

/// <summary>Examples, conflicts, splits and re-ingests, on real files and a real SQLite index.</summary>
public sealed class IngestorTests
{
    private static void Populate(IngestBed bed, int perClass, params string[] classes)
    {
        var seed = 0;
        foreach (var cls in classes)
            for (var i = 0; i < perClass; i++)
                TestImages.Write(bed.File($"{cls}/img{i:000}.png"), seed++, width: 4, height: 4);
    }

    private static Dictionary<string, string> SplitByContent(IngestBed bed, string? index = null) =>
        bed.Query("SELECT content_id, class, split FROM examples", index).Select(r => r.Split('|'))
            .ToDictionary(r => r[0] + "|" + r[1], r => r[2]);

    [Fact]
    public void Same_bytes_in_two_classes_is_a_conflict_kept_out_of_training()
    {
        using var bed = new IngestBed();
        Populate(bed, 3, "cats", "dogs");
        File.Copy(bed.File("cats/img000.png"), bed.File("dogs/surely-a-dog.png"));
        var r = bed.Run();
        var id = r.Files.Single(f => f.RelPath == "cats/img000.png").ContentId;
        Assert.Equal([$"{id}|cats|1", $"{id}|dogs|1"], bed.Query($"SELECT content_id, class, conflict FROM examples WHERE content_id = '{id}' ORDER BY class"));
        var conflict = Assert.Single(r.Conflicts);
        Assert.Equal(["cats/img000.png", "dogs/surely-a-dog.png"], conflict.Paths);
        Assert.Equal(5, r.UsableExamples.Count());
        Assert.Equal(7, r.Examples.Count);

        var included = bed.Run(d => d.IncludeConflicts = true);
        Assert.Equal(7, included.UsableExamples.Count());
        Assert.Equal(r.IndexHash, included.IndexHash); // the stored index does not depend on the switch
    }

    [Fact]
    public void Same_bytes_twice_in_one_class_is_one_example_named_by_its_first_path()
    {
        using var bed = new IngestBed();
        Populate(bed, 2, "cats");
        File.Copy(bed.File("cats/img001.png"), bed.File("cats/a-copy.png"));
        File.Copy(bed.File("cats/img001.png"), bed.File("cats/z-copy.png"));
        TestImages.Write(bed.File("dogs/one.png"), 99); // a second class: Ingest refuses one
        var r = bed.Run();
        Assert.Equal(4, r.Files.Count(f => f.Class == "cats"));
        Assert.Equal(2, r.Examples.Count(e => e.Class == "cats"));
        Assert.Empty(r.Conflicts);
        var id = r.Files.Single(f => f.RelPath == "cats/img001.png").ContentId;
        Assert.Equal(["cats/a-copy.png|0"], bed.Query($"SELECT rel_path, conflict FROM examples WHERE content_id = '{id}'"));
        Assert.Equal([("cats/img001.png", "cats/a-copy.png"), ("cats/z-copy.png", "cats/a-copy.png")], r.Duplicates);
        Assert.Contains("2 duplicates", IngestReport.Summary(r));
    }

    [Fact]
    public void Adding_and_removing_files_moves_no_other_example()
    {
        using var bed = new IngestBed();
        Populate(bed, 20, "cats", "dogs");
        var first = bed.Run();
        var before = SplitByContent(bed);

        File.Delete(bed.File("cats/img005.png"));
        TestImages.Write(bed.File("dogs/new.png"), 1000, width: 4, height: 4);
        var second = bed.Run();
        var after = SplitByContent(bed);

        Assert.Equal((1, 1, 1, 0), (second.ProbedFiles, second.AddedFiles, second.RemovedFiles, second.ChangedFiles));
        Assert.Equal(before.Count, after.Count);
        var kept = before.Keys.Intersect(after.Keys).ToList();
        Assert.Equal(before.Count - 1, kept.Count);
        Assert.All(kept, k => Assert.Equal(before[k], after[k]));
        Assert.DoesNotContain("cats/img005.png", bed.Query("SELECT rel_path FROM files"));
        Assert.NotEqual(first.IndexHash, second.IndexHash);
    }

    [Fact]
    public void An_unchanged_reingest_does_not_reopen_files_and_a_changed_file_is_rehashed()
    {
        using var bed = new IngestBed();
        Populate(bed, 10, "cats", "dogs");
        var first = bed.Run();
        Assert.Equal(20, first.ProbedFiles);

        var again = bed.Run();
        Assert.Equal((0, 20), (again.ProbedFiles, again.ReusedFiles));
        Assert.Equal(first.IndexHash, again.IndexHash);

        var path = bed.File("cats/img003.png");
        TestImages.Write(path, 500, width: 4, height: 4);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        var changed = bed.Run();
        Assert.Equal((1, 1, 19), (changed.ProbedFiles, changed.ChangedFiles, changed.ReusedFiles));
        Assert.Equal(changed.Files.Single(f => f.RelPath == "cats/img003.png").ContentId,
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path))));
        Assert.NotEqual(first.IndexHash, changed.IndexHash);
    }

    [Fact]
    public void The_same_folder_ingested_from_two_paths_gets_identical_splits()
    {
        using var bed = new IngestBed();
        Populate(bed, 15, "cats", "dogs");
        var elsewhere = bed.Dir["moved"];
        Directory.CreateSymbolicLink(elsewhere, bed.Root);
        var a = bed.Run();
        var b = bed.Run(root: elsewhere, indexPath: bed.Dir["other.sqlite"]);
        Assert.Equal(a.IndexHash, b.IndexHash);
        Assert.Equal(SplitByContent(bed), SplitByContent(bed, bed.Dir["other.sqlite"]));
        Assert.Equal(bed.Query("SELECT * FROM examples ORDER BY content_id"), bed.Query("SELECT * FROM examples ORDER BY content_id", bed.Dir["other.sqlite"]));
    }

    [Fact]
    public void A_group_pattern_keeps_each_group_in_one_split()
    {
        using var bed = new IngestBed();
        var seed = 0;
        for (var g = 0; g < 25; g++)
            for (var i = 0; i < 3; i++)
                TestImages.Write(bed.File($"birds/person{g}_nohash_{i}.png"), seed++, width: 4, height: 4);
        TestImages.Write(bed.File("birds/loner.png"), seed, width: 4, height: 4);
        TestImages.Write(bed.File("cats/other.png"), seed + 1, width: 4, height: 4); // a second class: Ingest refuses one
        bed.Run(d => d.GroupPattern = "^[^/]+/(.*)_nohash_");
        var rows = bed.Query("SELECT group_key, split FROM examples WHERE class = 'birds'").Select(r => r.Split('|')).ToList();
        var groups = rows.Where(r => r[0] != "null").GroupBy(r => r[0]).ToList();
        Assert.Equal(25, groups.Count);
        Assert.All(groups, g => Assert.Single(g.Select(r => r[1]).Distinct()));
        Assert.True(groups.Select(g => g.First()[1]).Distinct().Count() > 1, "25 groups all fell in one split");
        Assert.Single(rows, r => r[0] == "null"); // the loner keeps its content id as key
    }

    [Fact]
    public void The_report_and_meta_describe_the_run()
    {
        using var bed = new IngestBed();
        Populate(bed, 12, "cats", "dogs");
        File.Copy(bed.File("cats/img000.png"), bed.File("dogs/dup.png"));
        File.WriteAllBytes(bed.File("dogs/empty.png"), []);
        File.WriteAllText(bed.File("dogs/readme.md"), "# dogs");
        var r = bed.Run();
        var reports = bed.Dir["reports"];
        var path = IngestReport.Write(r, reports);
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal(r.IndexHash, (string?)json["index_hash"]);
        Assert.Equal(25, (int?)json["images"]);
        Assert.Equal(1, (int?)json["skipped"]!["non_image"]);
        Assert.Equal("dogs/empty.png", (string?)json["rejects"]![0]!["path"]);
        Assert.Equal(2, json["conflicts"]![0]!["paths"]!.AsArray().Count);
        Assert.Equal(r.SplitCount(Splits.Train), (int?)json["splits"]!["train"]);
        Assert.Equal(12, (int?)json["classes"]![1]!["files"] - 1);
        Assert.Equal(r.Files.Count, r.SplitCount(Splits.Train) + r.SplitCount(Splits.Validation) + r.SplitCount(Splits.Test) + 2);

        var summary = IngestReport.Summary(r);
        Assert.StartsWith("ingest: 25 images in 2 classes (train ", summary);
        Assert.Contains("; 1 rejected, 1 conflicts, 1 skipped; ", summary);
        Assert.Contains(IngestReport.Details(r), l => l.StartsWith("  rejected dogs/empty.png: "));
        Assert.Contains(IngestReport.Details(r), l => l.StartsWith("  conflict "));

        Assert.Contains($"index_hash|{r.IndexHash}", bed.Query("SELECT key, value FROM meta"));
        Assert.Contains($"dataset_root|{bed.Root}", bed.Query("SELECT key, value FROM meta"));
        using (var db = IndexDb.Open(bed.IndexPath, create: false))
        {
            Assert.Equal(r.IndexHash, db.Meta("index_hash"));
            Assert.Null(db.Meta("no_such_key"));
        }
        Assert.Equal(r.IndexHash, Ingestor.IndexHash(
            bed.Query("SELECT content_id, class, split, group_key, conflict, rel_path FROM examples ORDER BY content_id, class")
                .Select(l => l.Split('|')).Select(c => new ExampleRow(c[0], c[1], c[2], null, c[4] == "1", c[5]))));
    }
}
