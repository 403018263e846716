using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Runtime;

public class WorkspaceLockTests
{
    [Fact]
    public void A_second_holder_is_refused_with_a_clear_message_until_the_first_releases()
    {
        using var dir = new TempDir();
        var first = WorkspaceLock.Acquire(dir.Path, "extract", TimeSpan.Zero);
        var e = Assert.Throws<LockHeldException>(() => WorkspaceLock.Acquire(dir.Path, "ingest", TimeSpan.Zero));
        Assert.Equal(ExitCodes.LockHeld, e.ExitCode);
        Assert.Contains(dir.Path, e.Message);
        first.Dispose();
        using var again = WorkspaceLock.Acquire(dir.Path, "ingest", TimeSpan.Zero);
    }
}

public class AtomicFileTests
{
    [Fact]
    public void A_failed_write_leaves_the_old_file_whole_and_no_temporary()
    {
        using var dir = new TempDir();
        var path = dir["report.json"];
        AtomicFile.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("half of the new"u8);
            throw new InvalidOperationException("crash mid-write");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void A_write_removes_temporaries_left_by_killed_writers_but_not_those_of_live_ones()
    {
        using var dir = new TempDir();
        var path = dir["model.onnx"];
        var dead = dir[".model.onnx.2147483000.tmp"]; // no such pid
        var live = dir[".model.onnx.1.tmp"]; // pid 1 always runs
        var other = dir[".head.msgpack.2147483000.tmp"]; // another artifact's: its own next write clears it
        foreach (var f in new[] { dead, live, other }) File.WriteAllText(f, "half");
        AtomicFile.WriteAllText(path, "whole");
        Assert.Equal("whole", File.ReadAllText(path));
        Assert.False(File.Exists(dead));
        Assert.True(File.Exists(live));
        Assert.True(File.Exists(other));
    }

    [Fact]
    public void Write_replaces_the_file()
    {
        using var dir = new TempDir();
        var path = dir["sub/a.txt"];
        AtomicFile.WriteAllText(path, "one");
        AtomicFile.WriteAllText(path, "two");
        Assert.Equal("two", File.ReadAllText(path));
    }
}

public class IndexDbTests
{
    [Fact]
    public void A_new_index_has_the_current_schema_in_WAL_mode()
    {
        using var dir = new TempDir();
        using var db = IndexDb.Open(dir["index.sqlite"]);
        Assert.Equal((long)IndexDb.SchemaVersion, db.Scalar("PRAGMA user_version;"));
        Assert.Equal("wal", db.Scalar("PRAGMA journal_mode;"));
        Assert.Equal(0L, db.Scalar("SELECT count(*) FROM examples;"));
    }

    [Fact]
    public void A_corrupt_index_is_reported_never_trusted()
    {
        using var dir = new TempDir();
        var path = dir["index.sqlite"];
        using (var db = IndexDb.Open(path)) db.Exec("INSERT INTO meta VALUES ('k', 'v');");
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var bytes = File.ReadAllBytes(path);
        for (var i = 0; i < 100; i++) bytes[i] ^= 0x5A; // wreck the header
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<IndexCorruptException>(() => IndexDb.Open(path));
        Assert.Equal(ExitCodes.BadInput, e.ExitCode);
        Assert.Contains(path, e.Message);
        Assert.Contains("run Ingest again", e.Message);
    }

    [Fact]
    public void An_index_from_a_newer_build_is_refused()
    {
        using var dir = new TempDir();
        var path = dir["index.sqlite"];
        using (var db = IndexDb.Open(path)) db.Exec($"PRAGMA user_version = {IndexDb.SchemaVersion + 1};");
        Assert.Contains("newer", Assert.Throws<InputException>(() => IndexDb.Open(path)).Message);
    }

    [Fact]
    public void Runs_record_start_and_outcome()
    {
        using var dir = new TempDir();
        using var db = IndexDb.Open(dir["index.sqlite"]);
        var run = RunLog.Start(db, "ingest", "abc");
        Assert.Equal("running", db.Scalar($"SELECT outcome FROM runs WHERE run_id = {run.RunId};"));
        run.Finish(true, "1500 images");
        Assert.Equal("ok", db.Scalar($"SELECT outcome FROM runs WHERE run_id = {run.RunId};"));
        Assert.Equal("abc", db.Scalar($"SELECT config_hash FROM runs WHERE run_id = {run.RunId};"));
    }
}
