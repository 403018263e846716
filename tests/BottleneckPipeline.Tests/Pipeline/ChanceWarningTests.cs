using System.Text.Json.Nodes;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Pipeline;

/// <summary>
/// A head no better than always answering the largest class is a model the pipeline's own figures call broken:
/// TrainHead says so loudly, and Evaluate carries the warning into every report.
/// </summary>
public class ChanceWarningTests
{
    [Fact]
    public void Labels_that_say_nothing_about_the_photos_get_a_warning_from_train_head_and_in_every_report()
    {
        using var t = new TempDir();
        // Three folders of flowers dealt at random (seeded): a label says nothing about its photo.
        var photos = Directory.GetDirectories(RepoPaths.Flowers).Order(StringComparer.Ordinal).Take(3)
            .SelectMany(d => Directory.GetFiles(d, "*.jpg").Order(StringComparer.Ordinal).Take(24)).ToList();
        var random = new Random(5);
        foreach (var (photo, i) in photos.OrderBy(_ => random.Next()).Select((p, i) => (p, i)))
        {
            var folder = Directory.CreateDirectory(Path.Combine(t["data"], $"label{i % 3}")).FullName;
            File.Copy(photo, Path.Combine(folder, Path.GetFileName(photo)));
        }
        var rig = new FaultRig(t["rig"], t["data"]);
        rig.RunOk("Ingest");
        rig.RunOk("Extract");
        var trained = rig.RunOk("TrainHead");
        Assert.Contains("WARNING: the head: validation accuracy", trained.StdOut, StringComparison.Ordinal);
        Assert.Contains("always answering", trained.StdOut, StringComparison.Ordinal);

        var evaluated = rig.RunOk("Evaluate");
        Assert.Contains("WARNING: head only: validation accuracy", evaluated.StdOut, StringComparison.Ordinal);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(rig.ReportsDir, "evaluation.json")))!;
        Assert.Contains("not clearly above", Assert.Single(json["warnings"]!.AsArray())!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("**Warning:**", File.ReadAllText(Path.Combine(rig.ReportsDir, "evaluation.md")), StringComparison.Ordinal);
        Assert.Contains("class=\"warning\"", File.ReadAllText(Path.Combine(rig.ReportsDir, "evaluation.html")), StringComparison.Ordinal);
    }

    [Fact]
    public void Real_labels_get_no_warning()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 24));
        foreach (var stage in FaultRig.Stages)
            Assert.DoesNotContain("WARNING", rig.RunOk(stage).StdOut, StringComparison.Ordinal);
        Assert.Empty(JsonNode.Parse(File.ReadAllText(Path.Combine(rig.ReportsDir, "evaluation.json")))!["warnings"]!.AsArray());
    }
}
