namespace BottleneckPipeline.Runtime;

/// <summary>
/// One run at a time per workspace. The lock is an exclusively opened file, so the OS releases it
/// when the process dies, even by kill -9: a stale lock file never blocks the next run.
/// </summary>
public sealed class WorkspaceLock : IDisposable
{
    private readonly FileStream _stream;

    private WorkspaceLock(FileStream stream) => _stream = stream;

    public static WorkspaceLock Acquire(string workspace, string stage, TimeSpan wait) => Acquire(workspace, stage, wait, shared: false);

    /// <summary>
    /// The lock that Extract shards hold: shared among themselves (any number run at once, on any
    /// machine of a shared filesystem), exclusive of every other run, so no stage rewrites the
    /// index under them and no shard starts while one does.
    /// </summary>
    public static WorkspaceLock AcquireShared(string workspace, string holder, TimeSpan wait) => Acquire(workspace, holder, wait, shared: true);

    private static WorkspaceLock Acquire(string workspace, string stage, TimeSpan wait, bool shared)
    {
        Directory.CreateDirectory(workspace);
        var path = Path.Combine(workspace, ".lock");
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                // .NET takes flock(LOCK_EX) for FileShare.None and flock(LOCK_SH) otherwise.
                var fs = shared
                    ? new FileStream(path, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite)
                    : new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                RecordOwner(path, stage);
                return new WorkspaceLock(fs);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(200);
            }
            catch (IOException)
            {
                var holder = TryReadOwner(path);
                throw new LockHeldException(
                    $"workspace {workspace} is in use by another run ({holder}). Wait for it to finish, or stop it; " +
                    "a killed run releases the lock by itself.");
            }
        }
    }

    private static string OwnerPath(string lockPath) => lockPath + ".owner";

    /// <summary>
    /// The lock file itself cannot be read by a waiting process (the lock covers reads too), so the
    /// holder's name goes in a file beside it. Only messages use it: when it cannot be written (a
    /// full disk), the stale one is removed and the run goes on, to meet the real error where it
    /// writes its work.
    /// </summary>
    private static void RecordOwner(string lockPath, string stage)
    {
        try
        {
            AtomicFile.WriteAllText(OwnerPath(lockPath), $"{stage} pid {Environment.ProcessId}\n");
        }
        catch (IOException)
        {
            try { File.Delete(OwnerPath(lockPath)); } catch (IOException) { }
        }
    }

    private static string TryReadOwner(string lockPath)
    {
        try
        {
            return File.ReadLines(OwnerPath(lockPath)).FirstOrDefault() ?? "unknown process";
        }
        catch (IOException) { return "unknown process"; }
    }

    public void Dispose() => _stream.Dispose();
}
