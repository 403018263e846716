using System.Diagnostics;
using System.Security.Cryptography;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Hosting;

/// <summary>
/// A user's files are never the pipeline's to remove: a workspace around them is refused, and
/// clean and distclean remove only what the pipeline built. Real folders, the built executables and
/// real make.
/// </summary>
public class WorkspaceSafetyTests
{
    [Fact]
    public void A_workspace_around_the_dataset_and_config_is_refused_before_anything_is_written()
    {
        using var t = new TempDir();
        var folder = t["project"];
        TestIndex.CopyFlowers(Path.Combine(folder, "flower_photos"), classes: 2, perClass: 2);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "my own notes");
        var config = Path.Combine(folder, "pipeline.yaml");
        File.WriteAllText(config, "dataset:\n  root: flower_photos\nworkspace: .\n");
        var before = Snapshot(folder);

        foreach (var args in new[] { new[] { "--config", config }, ["clean", "--config", config] })
        {
            var r = StageProcess.Run("Ingest", args);
            Assert.True(r.ExitCode == ExitCodes.BadConfig, $"Ingest {string.Join(' ', args)} exited {r.ExitCode}:\n{r.Output}");
            Assert.Contains($"{config}:3: key 'workspace'", r.StdErr, StringComparison.Ordinal);
            Assert.Contains("contains dataset.root", r.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", r.StdErr, StringComparison.Ordinal); // no stack trace
        }
        Assert.Equal(before, Snapshot(folder)); // not even a lock file
    }

    [Theory]
    [InlineData("workspace:\n")]
    [InlineData("workspace: null\n")]
    [InlineData("workspace: ''\n")]
    public void An_empty_workspace_is_a_config_error_with_its_line(string workspaceLine)
    {
        using var t = new TempDir();
        TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 1);
        var config = t["pipeline.yaml"];
        File.WriteAllText(config, $"dataset:\n  root: data\n{workspaceLine}");
        var r = StageProcess.Run("Ingest", "--config", config);
        Assert.True(r.ExitCode == ExitCodes.BadConfig, $"exited {r.ExitCode}:\n{r.Output}");
        Assert.Contains($"{config}:3: key 'workspace' must not be empty", r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void Make_clean_after_a_whole_run_removes_the_pipelines_files_and_nothing_else()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["project/flower_photos"], classes: 2, perClass: 10);
        var workspace = t["project/ws"];
        var rig = new FaultRig(t["project"], data, cacheDir: Path.Combine(workspace, "cache"), workspace: workspace);
        Directory.CreateDirectory(workspace);
        File.WriteAllText(Path.Combine(workspace, "notes.txt"), "mine, in the workspace");
        File.WriteAllText(t["project/notes.txt"], "mine, beside the config");
        rig.RunAll();
        Directory.CreateDirectory(Path.Combine(workspace, "reports"));
        File.WriteAllText(Path.Combine(workspace, "reports", "mine.txt"), "mine, among the reports");
        File.WriteAllText(Path.Combine(workspace, ".model.onnx.backup.tmp"), "mine, named like a temporary but not one");
        // Temporaries of writers killed mid-write (pids that cannot be running).
        File.WriteAllText(Path.Combine(workspace, ".model.onnx.999999999.tmp"), "half a model");
        File.WriteAllText(Path.Combine(workspace, "reports", ".evaluation.json.999999999.tmp"), "{");
        var dataBefore = Snapshot(data);
        var configBefore = File.ReadAllText(rig.ConfigPath);
        var cacheBefore = Snapshot(rig.CacheDir);
        Assert.NotEmpty(cacheBefore);

        var r = Make(RepoPaths.Root, "-o", ".artifacts/.built", "clean", $"CONFIG={rig.ConfigPath}");
        Assert.True(r.ExitCode == 0, r.Output);

        Assert.Equal(dataBefore, Snapshot(data));
        Assert.Equal(configBefore, File.ReadAllText(rig.ConfigPath));
        Assert.Equal("mine, beside the config", File.ReadAllText(t["project/notes.txt"]));
        Assert.Equal(cacheBefore, Snapshot(rig.CacheDir));
        Assert.Equal([".model.onnx.backup.tmp", "cache", "notes.txt", "reports"], Entries(workspace));
        Assert.Equal(["mine.txt"], Entries(Path.Combine(workspace, "reports")));
        Assert.Contains("left alone (not written by the pipeline): .model.onnx.backup.tmp, notes.txt, reports/mine.txt", r.StdOut, StringComparison.Ordinal);

        // The cache was kept: the next run embeds nothing again.
        rig.RunOk("Ingest");
        Assert.Contains("extract: 0 extracted", rig.RunOk("Extract").StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Clean_never_removes_a_lock_held_by_a_running_stage()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 2));
        rig.RunOk("Ingest");
        using (WorkspaceLock.Acquire(rig.Workspace, "test-holder", TimeSpan.Zero))
        {
            var refused = StageProcess.Run("Ingest", "clean", "--config", rig.ConfigPath);
            Assert.True(refused.ExitCode == ExitCodes.LockHeld, $"exited {refused.ExitCode}:\n{refused.Output}");
            Assert.Contains("test-holder", refused.StdErr, StringComparison.Ordinal);
            Assert.True(File.Exists(rig.IndexPath));
            Assert.True(File.Exists(Path.Combine(rig.Workspace, ".lock")));
            Assert.StartsWith("test-holder", File.ReadAllText(Path.Combine(rig.Workspace, ".lock.owner")), StringComparison.Ordinal);
        }
        var r = StageProcess.Run("Ingest", "clean", "--config", rig.ConfigPath);
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Empty(Entries(rig.Workspace));
    }

    [Fact]
    public void Distclean_removes_only_the_repositorys_build_folders_from_wherever_it_is_run()
    {
        using var t = new TempDir();
        var repo = t["repo"];
        Directory.CreateDirectory(repo);
        File.Copy(Path.Combine(RepoPaths.Root, "Makefile"), Path.Combine(repo, "Makefile"));
        File.WriteAllText(Path.Combine(repo, "BottleneckPipeline.sln"), "");
        File.WriteAllText(Path.Combine(repo, "pipeline.yaml"), "dataset:\n  root: data\n");
        foreach (var built in new[] { "workspace/index.sqlite", ".artifacts/bin/x", "bench/out/y" }) Write(Path.Combine(repo, built));
        Write(Path.Combine(repo, "bench", "keep.txt"));
        // A user's folder holding the same names, where make is run from.
        var elsewhere = t["elsewhere"];
        foreach (var mine in new[] { "workspace/photo.jpg", ".artifacts/mine", "bench/out/mine" }) Write(Path.Combine(elsewhere, mine));
        var elsewhereBefore = Snapshot(elsewhere);

        var r = Make(elsewhere, "-f", Path.Combine(repo, "Makefile"), "distclean");
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Equal(elsewhereBefore, Snapshot(elsewhere));
        Assert.Equal(["BottleneckPipeline.sln", "Makefile", "bench", "pipeline.yaml"], Entries(repo));
        Assert.Equal(["keep.txt"], Entries(Path.Combine(repo, "bench")));

        // A copy of the Makefile outside a checkout removes nothing.
        File.Copy(Path.Combine(RepoPaths.Root, "Makefile"), Path.Combine(elsewhere, "Makefile"));
        var refused = Make(elsewhere, "distclean");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("not a BottleneckPipeline checkout", refused.StdErr, StringComparison.Ordinal);
        Assert.Equal(elsewhereBefore, Snapshot(elsewhere).Where(kv => kv.Key != "Makefile").ToDictionary());
    }

    [Fact]
    public void Makes_build_step_says_what_it_is_doing_before_the_quiet_build()
    {
        using var t = new TempDir();
        var repo = t["repo"];
        Directory.CreateDirectory(repo);
        foreach (var name in new[] { "Makefile", "Directory.Build.props", "Directory.Packages.props" })
            File.Copy(Path.Combine(RepoPaths.Root, name), Path.Combine(repo, name));
        // A stand-in for dotnet that only says it ran (a real first build prints nothing for about a minute).
        var dotnet = t["fake-dotnet"];
        File.WriteAllText(dotnet, "#!/bin/sh\necho \"fake-dotnet $1\"\nmkdir -p .artifacts\n");

        var r = Make(repo, "build", $"DOTNET=sh {dotnet}");
        Assert.True(r.ExitCode == 0, r.Output);
        var lines = r.StdOut.Split('\n');
        var said = Array.FindIndex(lines, l => l.StartsWith("building the stages", StringComparison.Ordinal));
        var built = Array.FindIndex(lines, l => l.StartsWith("fake-dotnet build", StringComparison.Ordinal));
        Assert.True(said >= 0 && built > said, $"no 'building the stages' line before the build:\n{r.StdOut}");
        Assert.Contains("first build", lines[said], StringComparison.Ordinal);
    }

    private static void Write(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, path);
    }

    /// <summary>Names in a folder, files and folders alike, sorted.</summary>
    private static List<string> Entries(string dir) =>
        [.. Directory.EnumerateFileSystemEntries(dir).Select(e => Path.GetFileName(e)!).Order(StringComparer.Ordinal)];

    /// <summary>Every file under a folder with a hash of its bytes.</summary>
    private static Dictionary<string, string> Snapshot(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(dir, f), f => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))));

    private static StageProcess.Result Make(string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo("make")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2))) { p.Kill(entireProcessTree: true); throw new TimeoutException("make did not finish"); }
        p.WaitForExit();
        return new StageProcess.Result(p.ExitCode, stdout.Result, stderr.Result, false);
    }
}
