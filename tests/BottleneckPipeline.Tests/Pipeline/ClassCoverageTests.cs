using System.Text.Json.Nodes;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Pipeline;

/// <summary>No class silently loses its training data: through the real stage executables.</summary>
public class ClassCoverageTests
{
    [Fact]
    public void A_link_to_the_dataset_root_inside_a_class_is_reported_and_every_class_keeps_its_training_examples()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 6);
        var classes = Directory.GetDirectories(data).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal).ToArray();
        Directory.CreateSymbolicLink(Path.Combine(data, classes[0], "all"), data);
        var rig = new FaultRig(t["rig"], data);

        var ingest = rig.RunOk("Ingest");
        Assert.Contains($"  rejected {classes[0]}/all: folder link loop", ingest.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("WARNING", ingest.StdOut, StringComparison.Ordinal);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(rig.ReportsDir, "ingest.json")))!;
        Assert.Contains(report["rejects"]!.AsArray(), x => (string?)x!["path"] == $"{classes[0]}/all");
        Assert.Empty(report["conflicts"]!.AsArray());
        Assert.Empty(report["classes_without_training"]!.AsArray());
        foreach (var cls in report["classes"]!.AsArray())
        {
            Assert.Equal(6, (int?)cls!["files"]);
            Assert.True((int?)cls["train"] > 0, $"class {cls["name"]} has no training example");
        }

        rig.RunOk("Extract");
        rig.RunOk("TrainHead");
        Assert.Equal(classes, rig.Head().LabelNames);
    }

    [Fact]
    public void A_class_with_no_training_example_is_warned_by_Ingest_and_refused_by_TrainHead()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 1, perClass: 8);
        var real = Directory.GetDirectories(data).Single();
        // A class made only of copies of the other's photos: every one a label conflict.
        Directory.CreateDirectory(Path.Combine(data, "zz_copies"));
        foreach (var f in Directory.GetFiles(real).Order(StringComparer.Ordinal).Take(2))
            File.Copy(f, Path.Combine(data, "zz_copies", Path.GetFileName(f)));
        var rig = new FaultRig(t["rig"], data);

        var ingest = rig.RunOk("Ingest");
        Assert.Contains("WARNING: no training example in class zz_copies", ingest.StdOut, StringComparison.Ordinal);
        Assert.Contains("  warning: class zz_copies has NO training example (2 of its 2 images are label conflicts", ingest.StdOut, StringComparison.Ordinal);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(rig.ReportsDir, "ingest.json")))!;
        Assert.Equal(["zz_copies"], report["classes_without_training"]!.AsArray().Select(c => (string?)c));

        rig.RunOk("Extract");
        var train = rig.Run("TrainHead");
        Assert.True(train.ExitCode == ExitCodes.BadInput, $"TrainHead exited {train.ExitCode}:\n{train.Output}");
        Assert.Contains("train-head: error: 1 class(es) have no training example", train.StdErr, StringComparison.Ordinal);
        Assert.Contains("class 'zz_copies': ", train.StdErr, StringComparison.Ordinal);
        Assert.Contains("label conflicts", train.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(rig.HeadPath), "no head is written for a class it cannot predict");
    }
}
