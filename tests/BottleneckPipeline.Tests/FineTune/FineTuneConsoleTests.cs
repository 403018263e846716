using System.Text.RegularExpressions;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.FineTune;

/// <summary>
/// FineTune's output piped to a file, as make's log is: each epoch's line arrives whole, not broken
/// at 80 columns (the width a console library assumes when stdout is not a terminal).
/// </summary>
public class FineTuneConsoleTests
{
    private const string FineTuneYaml = """
        evaluate:
          export: false
        fine_tune:
          epochs: 2
          batch_size: 4
          augment:
            views: 1
        """;

    [Fact]
    public void Piped_epoch_lines_are_not_wrapped()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 5, perClass: 6);
        var rig = new FaultRig(t["rig"], data, extraYaml: FineTuneYaml);
        foreach (var stage in new[] { "Ingest", "Extract", "TrainHead" }) rig.RunOk(stage);

        var run = rig.RunOk("FineTune");
        var lines = run.StdOut.Split('\n');
        var epochs = lines.Where(l => l.StartsWith("epoch ", StringComparison.Ordinal) && l.Contains(": train loss", StringComparison.Ordinal)).ToList();
        Assert.True(epochs.Count == 2, "expected two epoch lines in:\n" + run.StdOut);
        var whole = new Regex(@"^epoch \d+/2: train loss [\d.]+ accuracy [\d.]+%, validation loss [\d.]+ accuracy [\d.]+%, \d+ s \([\d.]+ img/s\)$");
        foreach (var line in epochs) Assert.True(whole.IsMatch(line), $"an epoch line broken in two: '{line}', in:\n{run.StdOut}");
        Assert.All(epochs, line => Assert.True(line.Length > 80, $"too short to show wrapping: {line}"));
    }
}
