using System.Security.Cryptography;
using System.Text.Json.Nodes;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Hosting;

/// <summary>
/// A workspace belongs to the config that first used it. Two configs holding only dataset.root, side
/// by side in one folder, both default to the workspace "workspace" beside them: the second is refused
/// before it writes anything, naming both configs and their datasets, until `clean` with the first
/// releases the workspace. Through the built executables.
/// </summary>
public class WorkspaceOwnerTests
{
    [Fact]
    public void A_second_config_on_the_same_workspace_is_refused_before_writing_until_the_first_cleans()
    {
        using var t = new TempDir();
        var folder = t["project"];
        var flowers = TestIndex.CopyFlowers(Path.Combine(folder, "flowers"), classes: 3, perClass: 5);
        var mine = Path.Combine(folder, "mine");
        TestImages(mine);
        var first = Path.Combine(folder, "pipeline.yaml");
        var second = Path.Combine(folder, "my.yaml");
        File.WriteAllText(first, "dataset:\n  root: flowers\n  validation_percent: 20\n  test_percent: 20\ntrain_head:\n  steps: 100\n");
        File.WriteAllText(second, "dataset:\n  root: mine\n");
        var workspace = Path.Combine(folder, "workspace");

        foreach (var stage in new[] { "Ingest", "Extract", "TrainHead", "Evaluate" }) RunOk(stage, first);
        var before = Snapshot(workspace);
        var model = before["model.onnx"];

        // Every stage and command that writes the workspace, clean included, is refused with exit 2 and writes nothing.
        foreach (var args in new[] { ["Ingest"], ["Extract"], ["TrainHead"], ["FineTune"], ["Evaluate"], new[] { "Ingest", "clean" } })
        {
            var r = StageProcess.Run(args[0], [.. args[1..], "--config", second]);
            Assert.True(r.ExitCode == ExitCodes.BadConfig, $"{string.Join(' ', args)} exited {r.ExitCode}:\n{r.Output}");
            Assert.Contains($"workspace {workspace} belongs to the config {first} (dataset.root {flowers})", r.StdErr, StringComparison.Ordinal);
            Assert.Contains($"{second} (dataset.root {mine})", r.StdErr, StringComparison.Ordinal);
            Assert.Contains("set 'workspace:' in", r.StdErr, StringComparison.Ordinal);
            Assert.Contains($"make clean CONFIG={first}", r.StdErr, StringComparison.Ordinal);
            Assert.Single(r.StdErr.Trim().Split('\n'));
            Assert.Equal(before, Snapshot(workspace));
        }
        Assert.Equal(model, Snapshot(workspace)["model.onnx"]);
        var owner = JsonNode.Parse(File.ReadAllText(Path.Combine(workspace, "owner.json")))!;
        Assert.Equal(first, owner["config"]!.GetValue<string>());
        Assert.Equal(flowers, owner["dataset_root"]!.GetValue<string>());

        // clean with the first config releases the workspace; the second then runs there.
        var clean = StageProcess.Run("Ingest", "clean", "--config", first);
        Assert.True(clean.ExitCode == 0, clean.Output);
        Assert.False(File.Exists(Path.Combine(workspace, "owner.json")));
        RunOk("Ingest", second);
        owner = JsonNode.Parse(File.ReadAllText(Path.Combine(workspace, "owner.json")))!;
        Assert.Equal(second, owner["config"]!.GetValue<string>());
        Assert.Equal(mine, owner["dataset_root"]!.GetValue<string>());
        // ...and now the first is the one refused.
        Assert.Equal(ExitCodes.BadConfig, StageProcess.Run("Ingest", "--config", first).ExitCode);
    }

    [Fact]
    public void A_config_moved_with_its_workspace_keeps_it()
    {
        using var t = new TempDir();
        TestIndex.CopyFlowers(t["a/flowers"], classes: 2, perClass: 2);
        File.WriteAllText(t["a/pipeline.yaml"], "dataset:\n  root: flowers\n");
        RunOk("Ingest", t["a/pipeline.yaml"]);
        Directory.Move(t["a"], t["b"]);
        RunOk("Ingest", t["b/pipeline.yaml"]);
        Assert.Equal(t["b/pipeline.yaml"], JsonNode.Parse(File.ReadAllText(t["b/workspace/owner.json"]))!["config"]!.GetValue<string>());
    }

    private static void TestImages(string root)
    {
        for (var i = 0; i < 4; i++)
        {
            Fixtures.TestImages.Write(Path.Combine(root, "circles", $"{i}.png"), i);
            Fixtures.TestImages.Write(Path.Combine(root, "squares", $"{i}.png"), 100 + i);
        }
    }

    private static void RunOk(string stage, string config)
    {
        var r = StageProcess.Run(stage, "--config", config);
        Assert.True(r.ExitCode == 0, $"{stage} --config {config} exited {r.ExitCode}:\n{r.Output}");
    }

    /// <summary>Every file of the workspace (its cache too) with its size, time and a hash of its bytes.</summary>
    private static Dictionary<string, string> Snapshot(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(dir, f), f =>
            {
                var info = new FileInfo(f);
                return $"{info.Length} {info.LastWriteTimeUtc.Ticks} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f)))}";
            });
}
