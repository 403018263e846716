using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Tests.Runtime;

/// <summary>What the shared-filesystem retry policy retries, and that it gives up on the rest at once.</summary>
public class TransientIoTests
{
    [Fact]
    public void Errors_of_a_flaky_shared_filesystem_are_transient_the_others_are_not()
    {
        // errno as .NET carries it in IOException.HResult: EIO, ESTALE (NFS failover), ETIMEDOUT, ENOLCK.
        foreach (var errno in new[] { 5, 116, 110, 37 })
            Assert.True(TransientIo.IsTransient(new IOException("flaky", errno)), $"errno {errno}");
        Assert.True(TransientIo.IsTransient(new SqliteException("database is locked", 5)));
        Assert.True(TransientIo.IsTransient(new SqliteException("disk I/O error", 10)));

        // ENOSPC and corruption need a person; a missing file will not come back by waiting.
        Assert.False(TransientIo.IsTransient(new IOException("disk full", 28)));
        Assert.False(TransientIo.IsTransient(new SqliteException("malformed", 11)));
        using var t = new TempDir();
        var missing = Assert.ThrowsAny<IOException>(() => File.ReadAllBytes(t["nothing-here"]));
        Assert.False(TransientIo.IsTransient(missing));
        // A sharing violation is another process's lock (a live writer, a busy workspace), never retried.
        var path = t["locked"];
        using var holder = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        var sharing = Assert.ThrowsAny<IOException>(() => new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None));
        Assert.False(TransientIo.IsTransient(sharing));
    }

    [Fact]
    public void A_transient_error_is_retried_until_it_passes_and_a_lasting_one_is_not()
    {
        var policy = TransientIo.Build(TimeSpan.FromMilliseconds(1));
        var tries = 0;
        var result = policy.Execute(() => ++tries < 3 ? throw new IOException("stale file handle", 116) : "read");
        Assert.Equal("read", result);
        Assert.Equal(3, tries);

        tries = 0;
        Assert.Throws<IOException>(() => policy.Execute(() => { tries++; throw new IOException("disk full", 28); }));
        Assert.Equal(1, tries);

        tries = 0;
        Assert.Throws<IOException>(() => policy.Execute(() => { tries++; throw new IOException("I/O error", 5); }));
        Assert.Equal(5, tries); // the first try and four retries, then the error goes up
    }
}
