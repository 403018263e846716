using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>
/// A workspace whose lock file cannot be created is the disk's fault, not another run's: exit 3
/// with what is wrong with the disk, never exit 4 "in use by another run". Real tmpfs mounts (the
/// tests run as root, which ignores mode bits, so a read-only mount is the honest test).
/// </summary>
[Trait("Category", "Faults")]
public class LockFileSystemTests
{
    [Fact]
    public void A_read_only_workspace_exits_3_saying_so()
    {
        using var t = new TempDir();
        using var fs = SmallFileSystem.Mount(t["wsfs"], kilobytes: 1024);
        var workspace = Directory.CreateDirectory(Path.Combine(fs.Path, "ws")).FullName;
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 1), workspace: workspace);
        fs.RemountReadOnly();

        var r = rig.Run("Ingest");
        Assert.True(r.ExitCode == ExitCodes.BadInput, $"exited {r.ExitCode}:\n{r.Output}");
        Assert.StartsWith("ingest: error: ", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("read-only file system", r.StdErr, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(workspace, ".lock"), r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("in use by another run", r.StdErr, StringComparison.Ordinal);
        Assert.Single(r.StdErr.Trim().Split('\n'));
    }

    [Fact]
    public void A_workspace_on_a_full_disk_exits_3_saying_so_and_runs_once_there_is_room()
    {
        using var t = new TempDir();
        // Empty files cost a tmpfs inodes, not blocks: with none left, not even the empty lock file fits.
        using var fs = SmallFileSystem.Mount(t["wsfs"], kilobytes: 4096, inodes: 64);
        var workspace = Directory.CreateDirectory(Path.Combine(fs.Path, "ws")).FullName;
        var filler = Directory.CreateDirectory(Path.Combine(fs.Path, "filler")).FullName;
        SmallFileSystem.FillInodes(filler);
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 1), workspace: workspace);

        var r = rig.Run("Ingest");
        Assert.True(r.ExitCode == ExitCodes.BadInput, $"exited {r.ExitCode}:\n{r.Output}");
        Assert.StartsWith("ingest: error: ", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("is full", r.StdErr, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(workspace, ".lock"), r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("in use by another run", r.StdErr, StringComparison.Ordinal);

        Directory.Delete(filler, recursive: true);
        rig.RunOk("Ingest");
    }
}
