using System.Runtime.InteropServices;

namespace BottleneckPipeline.Runtime;

/// <summary>
/// Makes a folder's entries durable: after a rename or a new file, the file's data may be on disk
/// while the name pointing at it is not, so power loss could bring back the old name or none. POSIX
/// asks for an fsync of the folder itself; .NET cannot open a folder as a file, so this opens it
/// read-only through libc. One open/fsync/close, cheap next to the file's own fsync. Elsewhere than
/// Linux and macOS it does nothing (Windows journals a rename with its file system metadata).
/// </summary>
internal static partial class DirectorySync
{
    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var fd = Open(directory, OperatingSystem.IsLinux() ? LinuxOpenReadOnlyCloseOnExec : 0);
        // Not even readable (a folder without r permission): nothing more can be done from here.
        if (fd < 0) return;
        try
        {
            if (Fsync(fd) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                // Some file systems cannot sync a folder and say so; that is no failure of the write.
                if (errno is EINVAL or ENOTSUP or EOPNOTSUPP_MAC) return;
                throw new IOException($"cannot flush the folder {directory} to disk: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private const int LinuxOpenReadOnlyCloseOnExec = 0x80000; // O_RDONLY | O_CLOEXEC
    private const int EINVAL = 22;
    private const int ENOTSUP = 95;
    private const int EOPNOTSUPP_MAC = 102;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
